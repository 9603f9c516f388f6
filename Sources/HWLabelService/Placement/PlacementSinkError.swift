public enum PlacementSinkError: Error, Sendable, CustomStringConvertible {
    case noHostName
    case incomplete([String])
    public var description: String {
        switch self {
        case .noHostName: "placement sink: the report has no host name and none is configured"
        case .incomplete(let errors): "placement sync incomplete: " + errors.joined(separator: "; ")
        }
    }
}
