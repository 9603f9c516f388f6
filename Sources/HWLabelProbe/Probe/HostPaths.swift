/// The roots host facts are read from. Injected, never global, so tests run in parallel.
public struct HostPaths: Sendable, Hashable {
    public var sys: String
    public var proc: String?
    public var dev: String?
    public var etc: String?
    public init(sys: String, proc: String?, dev: String?, etc: String?) {
        self.sys = sys
        self.proc = proc
        self.dev = dev
        self.etc = etc
    }
    /// This host's own roots: what `ProbeSource.live()` reads.
    public static let system = HostPaths(sys: "/sys", proc: "/proc", dev: "/dev", etc: "/etc")
}
