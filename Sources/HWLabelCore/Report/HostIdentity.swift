/// Who sent the report.
public struct HostIdentity: Codable, Sendable, Hashable {
    /// `/etc/machine-id`.
    public var machineId: String?
    public var hostname: String?
    public init(machineId: String?, hostname: String?) {
        self.machineId = machineId
        self.hostname = hostname
    }
    enum CodingKeys: String, CodingKey { case machineId, hostname }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(machineId, forKey: .machineId)
        try c.encode(hostname, forKey: .hostname)
    }
}
