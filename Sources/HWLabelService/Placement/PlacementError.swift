public enum PlacementError: Error, Sendable, CustomStringConvertible {
    /// Placement answered with an unexpected status.
    case http(method: String, path: String, status: Int, code: String?, detail: String)
    case transport(method: String, path: String, String)
    case badResponse(String)
    case tokenFile(path: String, String)
    case gaveUp(provider: String, attempts: Int)
    /// A provider being rewritten for the card now at its address got an allocation (for the
    /// card it described) during the sync: the rewrite stopped, the provider is left reserved.
    case allocatedWhileReplaced(provider: String)

    public var description: String {
        switch self {
        case .http(let m, let p, let s, let c, let d): "\(m) \(p): HTTP \(s)\(c.map { " \($0)" } ?? ""): \(d)"
        case .transport(let m, let p, let why): "\(m) \(p): \(why)"
        case .badResponse(let why): "unexpected Placement response: \(why)"
        case .tokenFile(let p, let why): "cannot read token file \(p): \(why)"
        case .gaveUp(let n, let a): "\(n): still conflicting after \(a) attempts (placement.concurrent_update)"
        case .allocatedWhileReplaced(let n):
            "\(n): got an allocation for the card it described while being rewritten for the card now at its address; "
                + "left reserved until its allocations are removed"
        }
    }
}
