import Foundation
import Glibc
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// This machine's own PCI functions against `lspci -nnk -D` (and `-vvv` for capabilities).
/// Written for any Linux host; on the Firecracker CI VMs that means 6 virtio-era functions,
/// no IOMMU, `numa_node` -1, no udevd.
@Suite("Probe: live host vs lspci")
struct ProbeLiveTests {
    @Test("live snapshot equals lspci -nnk -D", .tags(.probeLive))
    func liveMatchesLspci() throws {
        let snap = try Probe().snapshot(.live())
        let r = try ProbeTestSupport.run(try ProbeLspciCompare.lspci(), ["-nn", "-k", "-D", "-vvv"])
        try #require(r.status == 0, "lspci: \(r.stderr)")
        let listed = LspciListing.parse(r.stdout).filter { $0.vendorID != "ffff" }
        try #require(!listed.isEmpty, "lspci lists no PCI function on this host")
        #expect(snap.source.kind == "live")
        #expect(snap.functions.map(\.address.description) == listed.map(\.address).sorted())
        let byAddress = Dictionary(uniqueKeysWithValues: listed.map { ($0.address, $0) })
        for f in snap.functions {
            let l = try #require(byAddress[f.address.description])
            ProbeLspciCompare.identity(f, l, context: "live")
            #expect(f.driver == l.driver, "live \(f.address): driver")
            // Root (or CAP_SYS_ADMIN) reads the whole config space; others get 64 bytes and
            // lspci then prints <access denied>.
            if l.capabilitiesDenied {
                #expect(f.capabilities == nil && !f.configSpace.capabilitiesReadable)
            } else if f.configSpace.capabilitiesReadable {
                ProbeLspciCompare.capabilities(f, l, context: "live")
            }
            // NUMA: the kernel's -1 is "no affinity" → null; otherwise the file's value.
            let numa = SysfsRoot.text("/sys/bus/pci/devices/\(f.address)/numa_node").flatMap { Int($0) }
            #expect(f.numaNode == (numa.map { $0 < 0 ? nil : $0 } ?? nil), "live \(f.address): numa")
        }
        let noIOMMU =
            !FileManager.default.fileExists(atPath: "/sys/kernel/iommu_groups")
            || ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/iommu_groups")) ?? []).isEmpty
        if noIOMMU {
            #expect(snap.iommu.enabled == false)
            #expect(snap.iommu.groups.isEmpty)
            #expect(snap.functions.allSatisfy { $0.iommuGroup == nil })
        } else {
            #expect(snap.iommu.enabled == true)
        }
        // Host facts come only from the live host.
        let host = try #require(snap.host)
        #expect(host.kernel == SysfsRoot.text("/proc/sys/kernel/osrelease"))
        #expect(host.bootID != nil)
    }

    @Test("live works without udevd (no /run/udev)", .tags(.probeLive))
    func noUdevd() throws {
        // On these VMs /run/udev is absent: libudev must still enumerate from sysfs.
        let snap = try Probe().snapshot(.live())
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices")) ?? []
        #expect(snap.functions.count == entries.filter { PCIAddress($0) != nil }.count)
    }
}

extension Tag {
    @Tag static var probeLive: Self
}
