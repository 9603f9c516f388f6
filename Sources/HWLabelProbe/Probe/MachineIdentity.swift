/// Who this host is, as the agent names it to a controller: the machine ID systemd keeps in
/// `<etc>/machine-id` (stable across reboots) and the kernel's `<proc>/sys/kernel/random/boot_id`
/// (new at every boot). Read through `HostPaths`' etc and proc roots, like every other host fact.
public struct MachineIdentity: Sendable, Hashable {
    /// `<etc>/machine-id`; nil when `etc` is not given, or the file is absent, unreadable or empty.
    public var machineID: String?
    /// `<proc>/sys/kernel/random/boot_id`; nil when `proc` is not given, or the file is absent,
    /// unreadable or empty.
    public var bootID: String?

    public init(machineID: String?, bootID: String?) {
        self.machineID = machineID
        self.bootID = bootID
    }

    /// Reads both files (each bounded, regular files only) and trims surrounding white space.
    public static func read(_ paths: HostPaths = .system) -> MachineIdentity {
        MachineIdentity(
            machineID: paths.etc.flatMap { oneLine($0 + "/machine-id") },
            bootID: paths.proc.flatMap { oneLine($0 + "/sys/kernel/random/boot_id") })
    }

    /// A one-line file's text without surrounding white space; nil when unreadable or empty.
    static func oneLine(_ path: String) -> String? {
        guard let bytes = try? BoundedFile.readIfPresent(path, limit: BoundedFile.Limit.small) else { return nil }
        var s = Substring(String(decoding: bytes, as: UTF8.self))
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return s.isEmpty ? nil : String(s)
    }
}
