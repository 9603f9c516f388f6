import HWLabelProbe

/// Who holds which function, from the snapshot's host facts. Pure.
///
/// A VM holds a device when a process has its VFIO group or cdev open; the host uses it when it
/// is the boot VGA or console, a process has its DRM or NVIDIA nodes open, its interface is up
/// with addresses or routes, or it is behind a mount, swap, the root file system or the default
/// route. Where the scan could not see every process, the answer is unknown, never free.
public struct UsageResolver: Sendable {
    let holders: [PCIAddress: [DeviceHolder]]
    let uses: [PCIAddress: [HostUseEntry]]
    /// Why nothing can be called free; nil when the scan saw everything.
    let blind: String?

    public init(snapshot: Snapshot) {
        var holders: [PCIAddress: [DeviceHolder]] = [:]
        var uses: [PCIAddress: [HostUseEntry]] = [:]
        let host = snapshot.host
        for h in host?.deviceHolders ?? [] { holders[h.address, default: []].append(h) }
        for u in host?.hostUses ?? [] {
            uses[u.address, default: []].append(HostUseEntry(kind: u.kind, address: u.address, detail: u.detail))
        }
        for a in host?.rootFilesystemDevices ?? [] {
            uses[a, default: []].append(HostUseEntry(kind: "root-filesystem", address: a, detail: "\(a) holds the root file system"))
        }
        for a in host?.defaultRouteDevices ?? [] {
            uses[a, default: []].append(HostUseEntry(kind: "default-route", address: a, detail: "\(a) carries the default route"))
        }
        for f in snapshot.functions where f.bootVGA == true {
            uses[f.address, default: []].append(
                HostUseEntry(
                    kind: "boot-vga", address: f.address,
                    detail: "\(f.address) is the boot VGA device (host console)"))
        }
        for (a, hs) in holders {
            for h in hs where !h.isVM {
                uses[a, default: []].append(
                    HostUseEntry(
                        kind: h.kind == "nvidia" ? "nvidia-open" : "drm-open", address: a,
                        detail: "pid \(h.pid) (\(h.process)) has \(h.node) open"))
            }
        }
        self.holders = holders
        self.uses = uses
        switch (snapshot.source.kind, host?.deviceHolders, host?.unreadableProcesses) {
        case ("dump", _, _): blind = "an lspci dump records no processes"
        case (_, nil, _): blind = "no /proc was read, so open device nodes are unknown"
        case (_, _, let n?) where n > 0:
            blind =
                "the open files of \(n) process\(n == 1 ? "" : "es") could not be read (needs root, or CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)"
        default: blind = nil
        }
    }

    /// Usage of a device made of `addresses` (the function and what travels with it).
    public func usage(of addresses: [PCIAddress]) -> DeviceUsage {
        var bindings: [VMBinding] = []
        var hostUses: [HostUseEntry] = []
        for a in addresses {
            for h in holders[a] ?? [] where h.isVM {
                bindings.append(VMBinding(pid: h.pid, process: h.process, guest: h.guest, node: h.node, address: a))
            }
            hostUses += uses[a] ?? []
        }
        var seen = Set<VMBinding>()
        bindings = bindings.filter { seen.insert($0).inserted }.sorted { ($0.pid, $0.address) < ($1.pid, $1.address) }
        let state: DeviceUsage.State = !bindings.isEmpty ? .vm : !hostUses.isEmpty ? .host : blind != nil ? .unknown : .free
        return DeviceUsage(
            state: state, bindings: bindings, hostUses: hostUses,
            unknownBecause: state == .unknown ? blind : nil)
    }

    /// Host uses of `addresses` only (for group members that are not part of the device).
    public func hostUses(of addresses: [PCIAddress]) -> [HostUseEntry] {
        addresses.flatMap { uses[$0] ?? [] }
    }
}
