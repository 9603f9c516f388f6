/// Assembles `GPUFacts` once every function of the scan is known (companions are other
/// functions of the same slot).
enum GPUAssembler {
    static func assemble(_ functions: inout [PCIFunction]) {
        var bySlot: [String: [Int]] = [:]
        // By index: a `for f in functions` copies every function (thirty-odd retains each).
        for i in functions.indices { bySlot[functions[i].address.slot, default: []].append(i) }
        for i in functions.indices where functions[i].isGPUClass {
            let f = functions[i]
            var g = f.gpu ?? GPUFacts(family: GPUCatalog.family(vendor: f.vendor))
            g.chip = GPUCatalog.chip(vendor: f.vendor, deviceName: f.names.device)
            g.architecture = GPUCatalog.architecture(vendor: f.vendor, device: f.device, deviceName: f.names.device)
            let sizes = f.bars.filter { $0.kind == "memory" && $0.prefetchable }.compactMap(\.size)
            g.apertureBytes = sizes.max()
            g.companions = (bySlot[f.address.slot] ?? []).filter { $0 != i }.compactMap { j in
                let c = functions[j]
                // A second GPU function in the slot is a peer, not a companion.
                guard !c.isGPUClass, c.physicalFunction == nil else { return nil }
                return Companion(address: c.address, role: role(c.classCode), classCode: c.classCode.description)
            }
            functions[i].gpu = g
        }
    }

    static func role(_ c: ClassCode) -> String {
        switch (c.base, c.sub) {
        case ("04", "03"), ("04", "01"): "audio"
        case ("0c", "03"): "usb"
        case ("0c", "80"): "ucsi"
        default: "other"
        }
    }
}
