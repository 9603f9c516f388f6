/// `<root>/bus/pci/slots/<name>/address` → slot name, keyed by `DDDD:BB:DD`.
enum SlotReader {
    static func slots(_ root: SysfsRoot, warnings: inout [ProbeWarning]) -> [String: String] {
        let dir = root.path + "/bus/pci/slots"
        var out: [String: String] = [:]
        for name in SysfsRoot.list(dir) ?? [] {
            guard let addr = SysfsRoot.text(dir + "/" + name + "/address", warnings: &warnings) else { continue }
            // The kernel writes `DDDD:BB:DD` (a slot holds every function of one device).
            if addr.split(separator: ":").count == 3, out[addr] == nil { out[addr] = name }
        }
        return out
    }
}
