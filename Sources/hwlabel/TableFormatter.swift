import HWLabelCore
import HWLabelProbe

/// Human-readable renderings. The JSON output is the stable contract; these may change.
enum TableFormatter {
    /// `0000:01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA104 [...] [10de:24a0] (rev a1)`
    /// as `lspci -nn -D` prints it, then the facts lspci does not show.
    static func lspciLine(_ f: PCIFunction) -> String {
        let cls = f.names.class ?? "Class \(f.classCode.baseAndSub)"
        let vendor = f.names.vendor ?? "Vendor \(f.vendor)"
        let device = f.names.device ?? "Device \(f.device)"
        // libpci names a known base class with an unknown subclass "Unassigned class [ffff]" itself.
        let clsID = cls.hasSuffix("[\(f.classCode.baseAndSub)]") ? "" : " [\(f.classCode.baseAndSub)]"
        var s = "\(f.address) \(cls)\(clsID): \(vendor) \(device) [\(f.vendor):\(f.device)]"
        if let r = f.revision, r != "00" { s += " (rev \(r))" }
        if f.classCode.progIf != "00" || f.names.progIf != nil {
            s += f.names.progIf.map { " (prog-if \(f.classCode.progIf) [\($0)])" } ?? " (prog-if \(f.classCode.progIf))"
        }
        return s
    }

    static func facts(_ f: PCIFunction) -> String {
        var parts: [String] = []
        parts.append("group=" + (f.iommuGroup.map(String.init) ?? "-"))
        parts.append("numa=" + (f.numaNode.map(String.init) ?? "-"))
        parts.append("driver=" + (f.driver ?? "-"))
        if let arch = f.gpu?.architecture?.value { parts.append("arch=\(arch.replacingSpaces())") }
        if f.physicalFunction != nil { parts.append("vf") }
        return parts.joined(separator: " ")
    }

    static func list(_ s: Snapshot, descriptors: DescriptorSet? = nil) -> String {
        var out = ""
        for f in s.functions {
            out += lspciLine(f) + "\n\t" + facts(f)
            if let d = descriptors?.descriptor(at: f.address) {
                out += " mode=\(d.mode.rawValue) ready=\(d.readiness.state.rawValue) use=\(d.usage.state.rawValue)"
                if let l = d.label { out += " label=\"\(l.name)\"" }
            }
            out += "\n"
        }
        return out
    }

    static func groups(_ s: Snapshot) -> String {
        var out = ""
        switch s.iommu.enabled {
        case .some(false): out += "IOMMU: off (no /sys/kernel/iommu_groups)\n"
        case .none: out += "IOMMU: unknown for this source\n"
        case .some(true): out += "IOMMU: on, units: \(s.iommu.units.isEmpty ? "-" : s.iommu.units.joined(separator: ", "))\n"
        }
        var grouped = Set<PCIAddress>()
        for g in s.iommu.groups {
            out += "group \(g.number)" + (g.type.map { " (\($0))" } ?? "") + "\n"
            for a in g.devices {
                grouped.insert(a)
                if let f = s.function(at: a) {
                    out += "  " + lspciLine(f) + "  driver=" + (f.driver ?? "-") + "\n"
                } else {
                    out += "  \(a) (not in this scan)\n"
                }
            }
        }
        let loose = s.functions.filter { !grouped.contains($0.address) }
        if !loose.isEmpty {
            out += "no group\n"
            for f in loose { out += "  " + lspciLine(f) + "  driver=" + (f.driver ?? "-") + "\n" }
        }
        return out
    }

    static func inventory(_ doc: InventoryDocument) -> String {
        var out = "source: \(doc.source.kind) \(doc.source.path)\n"
        if let h = doc.host {
            out += "host: \(h.hostname ?? "?")  kernel \(h.kernel ?? "?")  machine-id \(h.machineID ?? "?")\n"
            out +=
                "virtualization: cpu \(h.virtualizationFlag.map { $0.isEmpty ? "none" : $0 } ?? "?"), kvm "
                + yesNo(h.kvmLoaded) + ", nested " + yesNo(h.nestedVirtualization) + "\n"
            out +=
                "iommu params: \(h.iommuParameters.isEmpty ? "-" : h.iommuParameters.joined(separator: " "))"
                + (h.acsOverride.map { "  ACS OVERRIDE: \($0)" } ?? "") + "\n"
            out +=
                "vfio: " + yesNo(h.vfioAvailable) + "  iommufd: " + yesNo(h.iommufdAvailable)
                + "  interrupt remapping: " + yesNo(h.interruptRemapping)
                + "  unsafe interrupts: " + yesNo(h.unsafeInterruptsAllowed) + "\n"
        }
        out += "\n"
        let snap = Snapshot(
            source: doc.source, host: doc.host, iommu: doc.iommu, functions: doc.functions,
            warnings: doc.warnings)
        out += list(snap, descriptors: DescriptorSet(descriptors: doc.descriptors)) + "\n" + groups(snap)
        if !doc.descriptors.isEmpty {
            out += "\nassignable devices\n"
            for d in doc.descriptors {
                out +=
                    "  \(d.address) \(d.kind) [\(d.attributes.vendor):\(d.attributes.device)] \(d.mode.rawValue) "
                    + "\(d.readiness.state.rawValue) use=\(d.usage.state.rawValue)" + (d.label.map { " label=\"\($0.name)\"" } ?? "")
                    + " id=\(d.instance.id)\n"
                for b in d.usage.bindings {
                    out += "      bound to VM: pid \(b.pid) \(b.process)" + (b.guest.map { " guest \($0)" } ?? "") + " holds \(b.node)\n"
                }
                if let v = d.vgpu {
                    for p in v.profiles where p.available > 0 || p.instances > 0 {
                        out +=
                            "      vGPU \(p.name): \(p.available) available, \(p.instances) running"
                            + (v.publishedType == p.id ? " (published)" : "") + "\n"
                    }
                }
                for r in d.readiness.reasons where r.severity != .info {
                    out += "      \(r.severity.rawValue) \(r.code): \(r.message)\n"
                }
            }
        }
        out += "\ndigest: \(doc.digest)\n"
        return out
    }

    static func show(_ f: PCIFunction, snapshot: Snapshot) -> String {
        var out = lspciLine(f) + "\n"
        func line(_ k: String, _ v: String?) { out += "\t\(k): \(v ?? "unknown")\n" }
        if let sv = f.subsystemVendor, let sd = f.subsystemDevice {
            line("Subsystem", "\(f.names.subsystemVendor ?? sv) \(f.names.subsystem ?? "Device " + sd) [\(sv):\(sd)]")
        }
        line("Driver", f.driver ?? (snapshot.source.kind == "dump" ? nil : "none"))
        if let o = f.driverOverride { line("Driver override", o) }
        line("IOMMU group", f.iommuGroup.map(String.init))
        if let g = f.iommuGroup, let group = snapshot.iommu.group(g) {
            line(
                "Group members",
                group.devices.map { a in
                    "\(a) (\(snapshot.function(at: a)?.driver ?? "no driver"))"
                }.joined(separator: ", "))
        }
        line("NUMA node", f.numaNode.map(String.init) ?? (f.configSpace.source == .dump ? nil : "none"))
        line("Local CPUs", f.localCPUs)
        if let e = f.express { line("PCI Express", "\(e.portType) (v\(e.version))") }
        if let l = f.link {
            line(
                "Link",
                "\(l.currentSpeed ?? "?") x\(l.currentWidth.map(String.init) ?? "?") (max \(l.maxSpeed ?? "?") x\(l.maxWidth.map(String.init) ?? "?"), from \(l.source))"
            )
        }
        for b in f.bars {
            line(
                "BAR \(b.index)",
                "\(b.kind) \(b.size.map(bytes) ?? "size unknown")\(b.is64Bit ? " 64-bit" : "")\(b.prefetchable ? " prefetchable" : "")")
        }
        line("Config space", "\(f.configSpace.readableBytes) bytes readable (\(f.configSpace.source.rawValue))")
        if let c = f.capabilities {
            line("Capabilities", c.list.joined(separator: " "))
            line("FLR", c.flr ? "yes (\(c.flrSource ?? ""))" : "no")
            line("PM NoSoftRst", c.pmNoSoftReset.map { $0 ? "yes" : "no" } ?? "no PM capability")
            if let a = c.acs { line("ACS", "cap \(a.capabilities.joined(separator: ",")) enabled \(a.enabled.joined(separator: ","))") }
            if let s = c.sriov { line("SR-IOV", "total \(s.totalVFs) VFs, \(s.numVFs) enabled, VF device \(s.vfDeviceID)") }
            let flags = [
                ("ARI", c.ari), ("ATS", c.ats), ("PRI", c.pri), ("PASID", c.pasid),
                ("ReBAR", c.resizableBAR), ("AER", c.aer), ("DPC", c.dpc),
            ]
            line("Features", flags.filter(\.1).map(\.0).joined(separator: " "))
            if let sn = c.serialNumber { line("Serial number", sn) }
            if c.extendedChainBroken { line("Extended capabilities", "chain broken") }
        } else {
            line("Capabilities", "unknown: " + (f.configSpace.whyCapabilitiesUnknown ?? ""))
        }
        line("Reset methods", f.resetMethods.map { $0.isEmpty ? "none" : $0.joined(separator: " ") })
        if let v = f.bootVGA { line("Boot VGA", v ? "yes (host console)" : "no") }
        if let s = f.physicalSlot { line("Physical slot", s) }
        if let l = f.firmwareLabel { line("Firmware label", l) }
        if let u = f.upstreamBridge { line("Upstream bridge", u.description) }
        if let p = f.physicalFunction { line("Physical function", p.description) }
        if let s = f.sriov {
            line(
                "SR-IOV (sysfs)",
                "total \(s.totalVFs.map(String.init) ?? "?"), enabled \(s.numVFs.map(String.init) ?? "?"), VF device \(s.vfDevice ?? "?")")
            if !s.virtualFunctions.isEmpty { line("VFs", s.virtualFunctions.map(\.description).joined(separator: " ")) }
        }
        for m in f.mdevTypes ?? [] {
            line("mdev type \(m.id)", "\(m.name ?? "?"): \(m.availableInstances.map(String.init) ?? "?") available (\(m.deviceAPI ?? "?"))")
        }
        if let g = f.gpu {
            line(
                "GPU",
                "\(g.family) \(g.architecture.map { "\($0.value) [\($0.source)]" } ?? "architecture unknown")\(g.chip.map { " chip \($0)" } ?? "")"
            )
            line("Aperture", g.apertureBytes.map(bytes))
            if let v = g.vramBytes { line("VRAM", "\(bytes(v.value)) [\(v.source)]") }
            if !g.drmCards.isEmpty || !g.drmRenderNodes.isEmpty {
                line("DRM", (g.drmCards + g.drmRenderNodes).joined(separator: " "))
            }
            if !g.companions.isEmpty {
                line("Companions", g.companions.map { "\($0.address) (\($0.role))" }.joined(separator: ", "))
            }
            if let t = g.creatableVGPUTypes {
                line("Creatable vGPU types", t.map { "\($0.id) \($0.name)" }.joined(separator: ", "))
            }
            if let c = g.currentVGPUType { line("Current vGPU type", c) }
        }
        for (k, v) in f.properties.sorted(by: { $0.key < $1.key }) { line(k, v) }
        return out
    }

    static func descriptor(_ d: AssignableDevice) -> String {
        var out = "\tAssignable: \(d.kind)\(d.isVirtualFunction ? " (SR-IOV VF)" : ""), instance \(d.instance.id) [\(d.instance.source)]\n"
        out += "\tLabel: " + (d.label.map { "\($0.name) (\($0.source)\($0.rule.map { ": " + $0 } ?? ""))" } ?? "none") + "\n"
        for drift in d.drift { out += "\tDrift: \(drift)\n" }
        out +=
            "\tMode: \(d.mode.rawValue)" + (d.parent.map { ", parent \($0)" } ?? "")
            + (d.excludes.isEmpty ? "" : ", excludes " + d.excludes.map(\.description).joined(separator: " ")) + "\n"
        out += "\tHeld by: \(d.usage.state.rawValue)" + (d.usage.unknownBecause.map { " (\($0))" } ?? "") + "\n"
        for b in d.usage.bindings {
            out += "\t  VM: pid \(b.pid) \(b.process)" + (b.guest.map { " guest \($0)" } ?? "") + " holds \(b.node) (\(b.address))\n"
        }
        for u in d.usage.hostUses { out += "\t  host \(u.kind): \(u.detail)\n" }
        out += "\tReadiness: \(d.readiness.state.rawValue)\n"
        for r in d.readiness.reasons {
            out += "\t  \(r.severity.rawValue) \(r.code): \(r.message)\n"
            for m in r.members { out += "\t    \(m.address) driver \(m.driver ?? "none")\n" }
        }
        if !d.readiness.remediation.isEmpty {
            out += "\tTo make it ready:\n"
            for c in d.readiness.remediation { out += "\t  \(c)\n" }
        }
        if let s = d.capacity.sriov { out += "\tSR-IOV capacity: \(s.free) free of \(s.enabled) enabled, \(s.total) total\n" }
        if let v = d.vgpu {
            out +=
                "\tvGPU (\(v.mechanism)): "
                + (v.activeType.map { "runs \(v.profile(named: $0)?.name ?? $0) × \(v.activeInstances)" } ?? "idle")
                + (v.mixedSize ? ", mixed-size" : "") + (v.framebuffer.map { ", \(bytes($0.value)) [\($0.source)]" } ?? "")
                + ", Placement gets " + (v.publishedType.map { v.profile(named: $0)?.name ?? $0 } ?? "nothing (no vgpu-type chosen)") + "\n"
            for p in v.profiles {
                out +=
                    "\t  \(p.id) \(p.name): \(p.available) available, \(p.instances) running"
                    + (p.framebuffer.map { ", \(bytes($0.value)) each [\($0.source)]" } ?? "") + " (\(p.basis))\n"
            }
        } else {
            for m in d.capacity.mdevTypes {
                out += "\tvGPU \(m.id) \(m.name ?? ""): \(m.availableInstances.map(String.init) ?? "?") available\n"
            }
        }
        return out
    }

    static func yesNo(_ b: Bool?) -> String { b.map { $0 ? "yes" : "no" } ?? "unknown" }

    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), i = 0
        while v >= 1024, i < units.count - 1, v.truncatingRemainder(dividingBy: 1024) == 0 || v >= 10240 {
            v /= 1024
            i += 1
        }
        return v == v.rounded() ? "\(Int(v)) \(units[i])" : String(format: "%.1f %@", v, units[i])
    }
}

extension String {
    func replacingSpaces() -> String { split(separator: " ").joined(separator: "-") }
}

import Foundation
import HWLabelService
