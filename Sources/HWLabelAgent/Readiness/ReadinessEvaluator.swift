import HWLabelProbe

/// Decides passthrough readiness for one function (and its companions) from the snapshot. Pure.
///
/// `ready`: passes through now. `ready-after-binding`: only driver bindings stand in the way
/// (the remediation lists the `driverctl` commands). `not-ready`: a blocker that binding cannot
/// fix (IOMMU off, no group, host uses the device or its group, no interrupt remapping, facts
/// unknown). `risk` and `info` reasons never change the state.
public struct ReadinessEvaluator: Sendable {
    public let snapshot: Snapshot
    public init(snapshot: Snapshot) { self.snapshot = snapshot }

    /// Drivers that keep a group viable for VFIO: the group's endpoints must be bound to one of
    /// these or to nothing.
    public static let passthroughDrivers: Set<String> = ["vfio-pci", "pci-stub"]

    public func evaluate(_ f: PCIFunction, companions: [PCIFunction] = []) -> Readiness {
        var reasons: [ReadinessReason] = []
        var kernelFixes: [String] = []
        var toBind: [PCIAddress] = []
        let host = snapshot.host
        let own = Set([f.address] + companions.map(\.address))

        // IOMMU.
        switch snapshot.iommu.enabled {
        case false?:
            let params = host?.cpuVendor == "AuthenticAMD" ? "amd_iommu=on iommu=pt" : "intel_iommu=on iommu=pt"
            reasons.append(.init(code: "iommu-off", severity: .blocker,
                                 message: "the IOMMU is off (no IOMMU groups); enable VT-d/AMD-Vi in firmware and boot with \(params)"))
            kernelFixes += ["grubby --update-kernel=ALL --args=\"\(params)\"  # Debian/Ubuntu: add to GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub",
                            "reboot"]
        case nil:
            reasons.append(.init(code: "iommu-unknown", severity: .blocker,
                                 message: "IOMMU state unknown (\(snapshot.source.kind) source records no IOMMU groups); probe the live host"))
        case true?:
            if f.iommuGroup == nil {
                reasons.append(.init(code: "no-iommu-group", severity: .blocker,
                                     message: "\(f.address) is in no IOMMU group: the IOMMU does not cover it (check firmware DMAR/IVRS tables)"))
            }
        }

        // Config space.
        if let why = f.configSpace.whyCapabilitiesUnknown {
            reasons.append(.init(code: "config-unreadable", severity: .info, message: why))
        }

        // The device itself and its companions.
        if f.driver != "vfio-pci" {
            let now = f.driver.map { "bound to \($0)" } ?? "not bound to any driver"
            reasons.append(.init(code: "not-bound-to-vfio", severity: .binding,
                                 message: "\(f.address) is \(now); bind it to vfio-pci",
                                 members: [GroupMember(address: f.address, driver: f.driver)]))
            toBind.append(f.address)
        }
        let unboundCompanions = companions.filter { $0.driver != "vfio-pci" }
        if !unboundCompanions.isEmpty {
            reasons.append(.init(code: "companion-not-bound", severity: .binding,
                                 message: "companion functions travel with this device and must be bound to vfio-pci too: "
                                     + unboundCompanions.map { "\($0.address) (\($0.driver ?? "no driver"))" }.joined(separator: ", "),
                                 members: unboundCompanions.map { GroupMember(address: $0.address, driver: $0.driver) }))
            toBind += unboundCompanions.map(\.address)
        }

        // Group viability and the host's own devices.
        let root = Set(host?.rootFilesystemDevices ?? [])
        let route = Set(host?.defaultRouteDevices ?? [])
        let members = groupMembers(f)
        let offenders = members.filter { m in
            !own.contains(m.address) && !m.isBridge && m.driver != nil && !Self.passthroughDrivers.contains(m.driver!)
        }
        if !offenders.isEmpty {
            let hostCritical = offenders.contains { root.contains($0.address) || route.contains($0.address) || $0.bootVGA == true }
            reasons.append(.init(code: "group-not-viable", severity: hostCritical ? .blocker : .binding,
                                 message: "IOMMU group \(f.iommuGroup.map(String.init) ?? "?") is not viable: other endpoints are bound to host drivers: "
                                     + offenders.map { "\($0.address) (\($0.driver!))" }.joined(separator: ", ")
                                     + (hostCritical ? "; the host needs one of them, so the group cannot be handed over" : "; they would leave the host with this device"),
                                 members: offenders.map { GroupMember(address: $0.address, driver: $0.driver) }))
            if !hostCritical { toBind += offenders.map(\.address) }
        }
        let scope = [f] + companions + members.filter { !own.contains($0.address) && !$0.isBridge }
        for (code, set, what) in [("host-root-filesystem", root, "holds the host's root file system"),
                                  ("host-default-route", route, "carries the host's default route")] {
            let hits = scope.filter { set.contains($0.address) }
            guard !hits.isEmpty else { continue }
            let text = hits.map { h in
                h.address == f.address ? "\(h.address) \(what)" : "\(h.address) (\(own.contains(h.address) ? "companion" : "same IOMMU group")) \(what)"
            }.joined(separator: "; ")
            reasons.append(.init(code: code, severity: .blocker, message: text + "; passing it through would cut the host off",
                                 members: hits.map { GroupMember(address: $0.address, driver: $0.driver) }))
        }
        if f.bootVGA == true {
            reasons.append(.init(code: "boot-vga", severity: .blocker,
                                 message: "\(f.address) is the boot VGA device (host console); choose another primary display in firmware setup"))
        }

        // Reset.
        if let methods = f.resetMethods {
            if methods.isEmpty {
                reasons.append(.init(code: "no-reset-method", severity: .risk,
                                     message: "the kernel knows no reset method for \(f.address) (reset_method is empty): state may leak between VMs and a VM restart may hang the device"))
            }
        } else if let caps = f.capabilities {
            if !caps.flr && caps.pmNoSoftReset != false {
                reasons.append(.init(code: "no-reset-method", severity: .risk,
                                     message: "\(f.address) has no FLR and no usable PM reset (NoSoftRst\(caps.pmNoSoftReset == nil ? ": no PM capability" : "+")); only a bus reset may work, which resets the whole slot"))
            }
        } else {
            reasons.append(.init(code: "reset-unknown", severity: .info,
                                 message: "reset method unknown: no reset_method file and \(f.configSpace.whyCapabilitiesUnknown ?? "no FLR/PM facts")"))
        }

        // Host-wide.
        if let host {
            if host.interruptRemapping == false {
                if host.unsafeInterruptsAllowed == true {
                    reasons.append(.init(code: "unsafe-interrupts", severity: .risk,
                                         message: "no interrupt remapping; vfio_iommu_type1 allow_unsafe_interrupts=1 lets a guest forge MSIs"))
                } else {
                    reasons.append(.init(code: "no-interrupt-remapping", severity: .blocker,
                                         message: "interrupt remapping is off and unsafe interrupts are not allowed: vfio refuses the device. Enable interrupt remapping (x2APIC/VT-d IR) in firmware, or accept the risk with vfio_iommu_type1 allow_unsafe_interrupts=1"))
                    kernelFixes.append("# accepting the risk: echo 'options vfio_iommu_type1 allow_unsafe_interrupts=1' > /etc/modprobe.d/hwlabel-unsafe-interrupts.conf")
                }
            } else if host.unsafeInterruptsAllowed == true {
                reasons.append(.init(code: "unsafe-interrupts", severity: .risk,
                                     message: "vfio_iommu_type1 allow_unsafe_interrupts=1 is set"))
            }
            if let acs = host.acsOverride {
                reasons.append(.init(code: "acs-override", severity: .risk,
                                     message: "pcie_acs_override=\(acs) is on the kernel command line: IOMMU group isolation is faked, devices may still reach each other by peer-to-peer DMA"))
                kernelFixes.append("grubby --update-kernel=ALL --remove-args=pcie_acs_override")
            }
        }

        let state: Readiness.State
        if reasons.contains(where: { $0.severity == .blocker }) { state = .notReady }
        else if reasons.contains(where: { $0.severity == .binding }) { state = .readyAfterBinding }
        else { state = .ready }

        return Readiness(state: state, reasons: reasons, remediation: kernelFixes + Self.bindingCommands(for: toBind))
    }

    /// `driverctl set-override <BDF> vfio-pci` (persistent across reboots) for each function.
    /// Without driverctl, the same by hand (until reboot):
    /// `echo vfio-pci > /sys/bus/pci/devices/<BDF>/driver_override`,
    /// `echo <BDF> > /sys/bus/pci/devices/<BDF>/driver/unbind`, `echo <BDF> > /sys/bus/pci/drivers_probe`.
    public static func bindingCommands(for addresses: [PCIAddress]) -> [String] {
        guard !addresses.isEmpty else { return [] }
        var seen = Set<PCIAddress>()
        return ["modprobe vfio-pci"] + addresses.filter { seen.insert($0).inserted }.map { "driverctl set-override \($0) vfio-pci" }
    }

    /// The functions of `f`'s IOMMU group (from the group list, else from the functions' links).
    func groupMembers(_ f: PCIFunction) -> [PCIFunction] {
        guard let g = f.iommuGroup else { return [] }
        if let group = snapshot.iommu.group(g) {
            return group.devices.compactMap { snapshot.function(at: $0) }
        }
        return snapshot.functions.filter { $0.iommuGroup == g }
    }
}
