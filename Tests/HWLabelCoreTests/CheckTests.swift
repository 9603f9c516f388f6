import Foundation
import HWLabelTestSupport
import Testing
import HWLabelProbe
@testable import HWLabelCore

private typealias F = DeviceFixtures

/// T4 + Quadro RTX 6000 labelled "Turing GPU", RTX 8000 unlabelled; all vfio-bound and ready.
private func turingHost(nested: Bool? = false, change: (inout [PCIFunction]) -> Void = { _ in }) -> (Snapshot, DescriptorSet) {
    var fs = [F.t4, F.rtx6000, F.rtx8000]
    change(&fs)
    var h = F.host
    h.nestedVirtualization = nested
    let snap = F.snapshot(fs, host: h)
    var labels = LabelSet()
    labels.addRule(try! LabelRule(vendor: "10de", device: "1eb8", label: F.label("Turing GPU")))
    labels.addRule(
        try! LabelRule(vendor: "10de", device: "1e30", subsystemVendor: "10de", subsystemDevice: "13d9", label: F.label("Turing GPU")))
    return (snap, F.descriptors(snap, labels))
}

private func check(_ r: CheckRequest, _ host: (Snapshot, DescriptorSet), policy: Policy = .default) -> CheckResult {
    CompatibilityChecker().check(r, descriptors: host.1, snapshot: host.0, policy: policy)
}

@Suite("Agent check")
struct AgentCheckTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var request: CheckRequest
        var fits: Bool
        var devices: [String]
        var unmet: String?
        var testDescription: String { name }
    }

    @Test(
        "device requests",
        arguments: [
            Case(
                name: "2 × Turing GPU", request: CheckRequest(devices: [DeviceRequest(label: "Turing GPU", count: 2)]),
                fits: true, devices: ["0000:3b:00.0", "0000:5e:00.0"]),
            Case(
                name: "3 × Turing GPU", request: CheckRequest(devices: [DeviceRequest(label: "Turing GPU", count: 3)]),
                fits: false, devices: ["0000:3b:00.0", "0000:5e:00.0"], unmet: "2 of 3 requested available"),
            Case(
                name: "RTX 8000 by subsystem",
                request: CheckRequest(devices: [
                    DeviceRequest(vendor: "10de", device: "1e30", subsystemVendor: "10de", subsystemDevice: "13d8")
                ]),
                fits: true, devices: ["0000:af:00.0"]),
            Case(
                name: "label plus overlapping tuple: matching finds distinct devices",
                request: CheckRequest(devices: [
                    DeviceRequest(label: "Turing GPU", count: 1), DeviceRequest(vendor: "10de", device: "1eb8"),
                ]),
                fits: true, devices: ["0000:3b:00.0", "0000:5e:00.0"]),
            Case(
                name: "unknown label", request: CheckRequest(devices: [DeviceRequest(label: "Hopper GPU")]),
                fits: false, devices: [], unmet: "no device matching label \"Hopper GPU\" on this host"),
        ])
    func devices(_ c: Case) {
        let r = check(c.request, turingHost())
        #expect(r.fits == c.fits)
        #expect(Set(r.devices.map(\.address.description)) == Set(c.devices))
        if let u = c.unmet {
            #expect(r.parts.flatMap(\.unmet).contains { $0.contains(u) }, "\(r.parts.flatMap(\.unmet))")
        } else {
            #expect(r.parts.allSatisfy { $0.unmet.isEmpty })
        }
    }

    @Test("a matching device that is not ready is named with its blocker")
    func notReady() {
        let host = turingHost { fs in fs[0].bootVGA = true }
        let r = check(CheckRequest(devices: [DeviceRequest(vendor: "10de", device: "1eb8")]), host)
        #expect(!r.fits)
        #expect(r.parts[0].unmet.contains { $0.hasPrefix("0000:3b:00.0 matches but is not ready: boot-vga:") })
    }

    @Test("ready-after-binding serves and lists the binding commands, companions included")
    func binding() {
        let host = turingHost { fs in
            fs[0].driver = "nvidia"
            fs[0].gpu?.companions = [Companion(address: F.addr("0000:3b:00.1"), role: "audio", classCode: "040300")]
            fs.append(F.function("0000:3b:00.1", "10de", "10fa", class: 0x040300, driver: "snd_hda_intel", group: 10))
        }
        let r = check(CheckRequest(devices: [DeviceRequest(vendor: "10de", device: "1eb8")]), host)
        #expect(r.fits)
        #expect(r.devices.first?.companions == [F.addr("0000:3b:00.1")])
        #expect(
            r.bindingCommands == [
                "modprobe vfio-pci", "driverctl set-override 0000:3b:00.0 vfio-pci",
                "driverctl set-override 0000:3b:00.1 vfio-pci",
            ])
    }

    @Test(
        "vGPU profiles by mdev name, with available instances",
        arguments: [
            (2, 2, true, nil as String?), (3, 2, false, "2 of 3 requested instances available"),
            (1, 0, false, "can create no more instances"),
        ])
    func vgpu(_ wanted: Int, _ available: Int, _ fits: Bool, _ unmet: String?) {
        // mdev types exist only while the vendor driver holds the card.
        let host = turingHost { fs in
            fs[0].driver = "nvidia"
            fs[0].mdevTypes = [MdevType(id: "nvidia-222", name: "GRID T4-4Q", availableInstances: available)]
        }
        let r = check(CheckRequest(vgpu: [VGPURequest(profile: "GRID T4-4Q", count: wanted)]), host)
        #expect(r.fits == fits)
        if let unmet { #expect(r.parts[0].unmet.contains { $0.contains(unmet) }, "\(r.parts[0].unmet)") }
    }

    @Test("nested virtualization with a passthrough device is refused with the three resolutions")
    func nestedRefused() throws {
        let r = check(CheckRequest(devices: [DeviceRequest(label: "Turing GPU")], nested: true), turingHost(nested: true))
        #expect(!r.fits)
        let refusal = try #require(r.refusal)
        #expect(refusal.message == "Virtualization is not supported on a virtual machine with a PCI passthrough device.")
        #expect(refusal.resolutions.count == 3)
        #expect(
            refusal.resolutions[0].contains("Remove the PCI passthrough or vGPU device") && refusal.resolutions[0].contains("enable nested")
        )
        #expect(
            refusal.resolutions[1].contains("Keep the PCI passthrough or vGPU device")
                && refusal.resolutions[1].contains("nested hardware virtualization off"))
        #expect(refusal.resolutions[2].contains("Split the workload into two VMs"))
        #expect(r.hostNestedVirtualization == true)
    }

    @Test(
        "policy may allow nested with passthrough; the host's nested state still decides",
        arguments: [
            (true as Bool?, true), (false, false), (nil, false),
        ])
    func nestedAllowed(_ hostNested: Bool?, _ fits: Bool) {
        let r = check(
            CheckRequest(devices: [DeviceRequest(label: "Turing GPU")], nested: true), turingHost(nested: hostNested),
            policy: Policy(allowNestedWithPassthrough: true))
        #expect(r.refusal == nil)
        #expect(r.fits == fits)
        #expect(r.hostNestedVirtualization == hostNested)
    }

    @Test("nested alone, without devices, is not refused")
    func nestedAlone() {
        let r = check(CheckRequest(nested: true), turingHost(nested: true))
        #expect(r.refusal == nil)
        #expect(r.fits)
    }

    @Test(
        "request JSON decodes with defaults; bad requests are input errors",
        arguments: [
            (#"{"devices":[{"label":"Turing GPU","count":2}],"nested":true}"#, nil as String?),
            (#"{"devices":[{"vendor":"10de","device":"1e30","subsystemVendor":"10de","subsystemDevice":"13d9"}]}"#, nil),
            (#"{}"#, "asks for nothing"),
            (#"{"devices":[{"label":"Turing GPU","vendor":"10de","device":"1eb8"}]}"#, "not both"),
            (#"{"devices":[{"vendor":"10de","device":"1e30","subsystemVendor":"10de"}]}"#, "or neither"),
            (#"{"devices":[{"label":"Turing GPU","count":0}]}"#, "count must be"),
        ])
    func requestJSON(_ json: String, _ error: String?) throws {
        let r = try JSONDecoder().decode(CheckRequest.self, from: Data(json.utf8))
        if let error {
            #expect(throws: RequestError.self) { try r.validate() }
            do { try r.validate() } catch let e { #expect(e.description.contains(error), "\(e)") }
        } else {
            try r.validate()
            #expect(!r.devices.isEmpty)
        }
    }
}
