import HWLabelProbe

/// What a GPU in vGPU mode can deliver now. Pure.
///
/// Time-sliced NVIDIA vGPU runs one type per physical GPU at a time (unless the operator put the
/// card in mixed-size mode, which only NVML shows, so policy must declare it). A type's count is
/// bounded by what the card still reports (mdev `available_instances`, NVIDIA's creatable list
/// on free VFs) and by the card's framebuffer.
public enum VGPUCapacity {
    /// How a card serves vGPU, if it does: mdev types on the GPU, mdev types on its VFs, or
    /// NVIDIA's vendor-specific VFIO files on its VFs.
    public static func mechanism(_ f: PCIFunction, vfs: [PCIFunction]) -> String? {
        guard f.isGPUClass, f.driver != nil, !isVFIODriver(f.driver!) else { return nil }
        if let m = f.mdevTypes, !m.isEmpty { return "mdev" }
        if vfs.contains(where: { $0.gpu?.creatableVGPUTypes != nil || $0.gpu?.currentVGPUType != nil }) { return "nvidia-vfio" }
        if vfs.contains(where: { !($0.mdevTypes ?? []).isEmpty }) { return "mdev" }
        return nil
    }

    /// vfio-pci or one of its variant drivers (`mlx5_vfio_pci`, `nvgrace_gpu_vfio_pci`, …).
    public static func isVFIODriver(_ d: String) -> Bool {
        d == "vfio-pci" || d.hasSuffix("_vfio_pci") || d.hasSuffix("-vfio-pci")
    }

    /// The offer of card `f` (a PF in vGPU mode) with its VFs.
    public static func offer(
        _ f: PCIFunction, vfs: [PCIFunction], mechanism: String, mixedSize: Bool,
        choice: String?
    ) -> (VGPUOffer, [String]) {
        var notes: [String] = []
        let memory = cardMemory(f)
        var profiles: [VGPUProfile] = []
        var activeType: String?
        var activeInstances = 0
        var slots: [PCIAddress] = []

        if mechanism == "nvidia-vfio" {
            let carriers = vfs.filter { $0.gpu?.creatableVGPUTypes != nil || $0.gpu?.currentVGPUType != nil }
            slots = carriers.map(\.address)
            var names: [String: String] = [:] // type id → name
            var order: [String] = []
            for vf in carriers {
                for t in vf.gpu?.creatableVGPUTypes ?? [] where names[t.id] == nil {
                    names[t.id] = t.name
                    order.append(t.id)
                }
            }
            var running: [String: Int] = [:]
            for vf in carriers {
                guard let cur = vf.gpu?.currentVGPUType, cur != "0", !cur.isEmpty else { continue }
                running[cur, default: 0] += 1
                activeInstances += 1
                if names[cur] == nil { names[cur] = "vGPU type \(cur)"; order.append(cur) }
            }
            if !mixedSize, running.count > 1 {
                notes.append(
                    "\(f.address) runs \(running.count) vGPU types at once: the card is in mixed-size mode; declare it with vgpu-mixed-size in policy.conf"
                )
            }
            activeType = running.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
            for id in order {
                let name = names[id]!
                let free = carriers.filter { vf in
                    let cur = vf.gpu?.currentVGPUType ?? "0"
                    return (cur == "0" || cur.isEmpty) && (vf.gpu?.creatableVGPUTypes ?? []).contains { $0.id == id }
                }.count
                profiles.append(
                    profile(
                        id: id, name: name, reported: free, instances: running[id] ?? 0,
                        reportedBasis: "\(free) free VF\(free == 1 ? "" : "s") list it as creatable",
                        perInstance: framebufferFromName(name, board: f), memory: memory,
                        running: running, names: names, mixedSize: mixedSize, activeType: activeType))
            }
        } else {
            // mdev on the card itself, or on its VFs (one instance per VF).
            let parents = (f.mdevTypes?.isEmpty == false) ? [f] : vfs.filter { !($0.mdevTypes ?? []).isEmpty }
            if parents.count > 1 || parents.first?.address != f.address { slots = parents.map(\.address) }
            var byID: [String: (name: String, description: String?, available: Int, instances: Int)] = [:]
            var order: [String] = []
            for p in parents {
                for m in p.mdevTypes ?? [] {
                    var e = byID[m.id] ?? (m.name?.isEmpty == false ? m.name! : m.id, m.description, 0, 0)
                    e.available += max(0, m.availableInstances ?? 0)
                    e.instances += max(0, m.instances ?? 0)
                    if byID[m.id] == nil { order.append(m.id) }
                    byID[m.id] = e
                }
            }
            var running: [String: Int] = [:]
            var names: [String: String] = [:]
            for (id, e) in byID {
                names[id] = e.name
                if e.instances > 0 { running[id] = e.instances; activeInstances += e.instances }
            }
            activeType = running.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
            for id in order {
                let e = byID[id]!
                let fb = framebufferFromDescription(e.description) ?? framebufferFromName(e.name, board: f)
                profiles.append(
                    profile(
                        id: id, name: e.name, reported: e.available, instances: e.instances,
                        reportedBasis: "available_instances \(e.available)",
                        perInstance: fb, memory: memory, running: running, names: names,
                        mixedSize: mixedSize, activeType: activeType))
            }
        }

        var published: String?
        if let activeType, !mixedSize || choice == nil {
            published = activeType
        } else if let choice {
            if let p = profiles.first(where: { $0.name == choice || $0.id == choice }) {
                published = p.id
            } else {
                notes.append(
                    "policy vgpu-type \"\(choice)\" for \(f.address) is not a type this card offers ("
                        + profiles.map(\.name).joined(separator: ", ") + ")")
            }
        }
        let offer = VGPUOffer(
            mechanism: mechanism, activeType: activeType, activeInstances: activeInstances,
            mixedSize: mixedSize, framebuffer: memory, slots: slots.sorted(),
            profiles: profiles, publishedType: published)
        return (offer, notes)
    }

    /// One type's count: what the card reports, bounded by one-type-per-GPU and the framebuffer.
    static func profile(
        id: String, name: String, reported: Int, instances: Int, reportedBasis: String,
        perInstance: Sourced<UInt64>?, memory: Sourced<UInt64>?, running: [String: Int],
        names: [String: String], mixedSize: Bool, activeType: String?
    ) -> VGPUProfile {
        var available = reported
        var basis = [reportedBasis]
        if !mixedSize, let activeType, activeType != id {
            available = 0
            basis.append("\(names[activeType] ?? activeType) runs on this card and time-sliced vGPU runs one type per GPU")
        }
        if let fb = perInstance?.value, fb > 0, let mem = memory?.value {
            // Memory the instances that exist already take, whatever their type.
            var used: UInt64 = 0
            var usedKnown = true
            for (t, n) in running {
                if t == id { used += UInt64(n) * fb; continue }
                guard let other = framebufferFromName(names[t] ?? "", board: nil)?.value else { usedKnown = false; continue }
                used += UInt64(n) * other
            }
            if usedKnown {
                let bound = mem > used ? Int((mem - used) / fb) : 0
                if bound < available {
                    available = bound
                    basis.append("framebuffer: \(gib(mem)) on the card, \(gib(used)) in use, \(gib(fb)) per instance")
                }
            }
        }
        return VGPUProfile(
            id: id, name: name, available: max(0, available), instances: instances,
            framebuffer: perInstance, basis: basis.joined(separator: "; "))
    }

    /// `framebuffer=4096M` in an mdev type's description (NVIDIA prints `num_heads=4,
    /// frl_config=60, framebuffer=4096M, max_resolution=…, max_instance=4`).
    public static func framebufferFromDescription(_ d: String?) -> Sourced<UInt64>? {
        guard let d else { return nil }
        for part in d.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmed }
            guard kv.count == 2, kv[0] == "framebuffer" else { continue }
            var num = Substring(kv[1])
            var mult: UInt64 = 1
            switch num.last {
            case "M"?, "m"?: mult = 1 << 20; num = num.dropLast()
            case "G"?, "g"?: mult = 1 << 30; num = num.dropLast()
            case "K"?, "k"?: mult = 1 << 10; num = num.dropLast()
            default: break
            }
            guard let v = UInt64(num), v < (1 << 40) else { return nil }
            return Sourced(v * mult, source: "mdev-description")
        }
        return nil
    }

    /// NVIDIA's type names end `<board>-<GB><series>` (`NVIDIA L40S-8Q`: 8 GB; `GRID T4-4Q`;
    /// `NVIDIA A100-4-20C`: 20 GB; `GRID P40-1B4`: 1 GB). Nil when the name does not follow it.
    public static func framebufferFromName(_ name: String, board: PCIFunction?) -> Sourced<UInt64>? {
        guard let dash = name.lastIndex(of: "-") else { return nil }
        let last = name[name.index(after: dash)...]
        let digits = last.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 4, let gb = UInt64(digits), gb > 0,
            last.dropFirst(digits.count).first?.isLetter == true
        else { return nil }
        return Sourced(gb << 30, source: "name:\(last)")
    }

    /// The card's memory: a driver file when the probe read one, else the catalog.
    public static func cardMemory(_ f: PCIFunction) -> Sourced<UInt64>? {
        if let v = f.gpu?.vramBytes { return v }
        let key = "\(f.vendor):\(f.device)"
        if let ss = f.subsystemDevice, let gb = memoryGB["\(key):\(f.subsystemVendor ?? ""):\(ss)"] {
            return Sourced(gb << 30, source: "catalog@\(GPUCatalog.version)")
        }
        if let gb = memoryGB[key] { return Sourced(gb << 30, source: "catalog@\(GPUCatalog.version)") }
        return nil
    }

    /// Board memory of vGPU-capable data-centre GPUs (NVIDIA's published specifications), in
    /// GB as NVIDIA's profile names count them. Keys `vvvv:dddd` or `vvvv:dddd:ssvv:ssdd`.
    static let memoryGB: [String: UInt64] = [
        "10de:1eb8": 16, // Tesla T4
        "10de:1b38": 24, // Tesla P40
        "10de:1bb3": 8, // Tesla P4
        "10de:15f8": 16, // Tesla P100 PCIe 16 GB
        "10de:1db4": 16, // Tesla V100 PCIe 16 GB
        "10de:1db6": 32, // Tesla V100 PCIe 32 GB
        "10de:1df6": 32, // Tesla V100S PCIe
        "10de:20b0": 40, // A100 SXM4 40 GB
        "10de:20b2": 80, // A100 SXM4 80 GB
        "10de:20b5": 80, // A100 PCIe 80 GB
        "10de:20f1": 40, // A100 PCIe 40 GB
        "10de:20b7": 24, // A30
        "10de:2235": 48, // A40
        "10de:2236": 24, // A10
        "10de:25b6": 16, // A16 (per GPU)
        "10de:26b5": 48, // L40
        "10de:26b9": 48, // L40S
        "10de:27b8": 24, // L4
        "10de:26b1": 48, // RTX 6000 Ada
        "10de:2330": 80, // H100 SXM5 80 GB
        "10de:2331": 80, // H100 PCIe
        "10de:2335": 141, // H200 SXM
        "10de:2339": 94, // H100 NVL
        "10de:1e30:10de:12ba": 24, // Quadro RTX 6000 (pci.ids)
        "10de:1e30:10de:13d9": 24, // Quadro RTX 6000 passive (the domain notes' subsystem)
        "10de:1e30:10de:129e": 48, // Quadro RTX 8000 (pci.ids)
        "10de:1e30:10de:13d8": 48, // Quadro RTX 8000 passive (the domain notes' subsystem)
    ]

    static func gib(_ b: UInt64) -> String {
        b % (1 << 30) == 0 ? "\(b >> 30) GB" : "\(b >> 20) MB"
    }
}
