/// One uevent as the kernel (or udevd) announced it.
public struct Uevent: Sendable, Hashable, CustomStringConvertible {
    /// `add`, `remove`, `bind`, `unbind`, `change`, `move`, `online`, `offline`.
    public var action: String
    /// `pci`, `mdev`, `drm`.
    public var subsystem: String
    /// `/devices/pci0000:00/0000:00:02.0`
    public var devpath: String
    /// `0000:00:02.0`, `card0`, a mdev UUID.
    public var sysname: String
    @Nullable public var driver: String?
    public init(action: String, subsystem: String, devpath: String, sysname: String, driver: String?) {
        self.action = action
        self.subsystem = subsystem
        self.devpath = devpath
        self.sysname = sysname
        self.driver = driver
    }
    public var description: String { "\(action) \(subsystem) \(sysname)" }
}
