import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe
@testable import HWLabelService

/// Pure tests: each device is published in its current mode only, and the planner's write
/// order never makes a provider schedulable before it is fully written (no server).
@Suite struct PlacementModeTests {
    static let host = "h1"
    static func name(_ address: String) -> String { "\(host)_\(address)" }
    static func uuid(_ address: String) -> String { PlacementUUID.forDevice(name(address)) }
    static let root = ProviderState(uuid: PlacementUUID.forRoot(host), name: host, generation: 0, parentUUID: nil)

    /// What Placement holds after a clean sync of `tree` (for planning the next one).
    static func state(after tree: DesiredTree) -> PlacementState {
        let providers = tree.providers.map { d in
            ProviderState(
                uuid: PlacementUUID.forDevice(d.name), name: d.name, generation: 5,
                parentUUID: d.parentName.map { PlacementUUID.forDevice($0) } ?? root.uuid,
                inventories: d.inventories, traits: d.traits)
        }
        return PlacementState(
            root: root, providers: providers,
            existingTraits: Set(tree.providers.flatMap(\.traits)),
            existingResourceClasses: Set(tree.providers.flatMap(\.inventories.keys)))
    }

    @Test func sriovPFCarriesTraitsOnlyAndItsVFsNestUnderIt() throws {
        let nic = PlacementTestHosts.sriovNIC(bus: "3b", vfs: 2, label: "SR-IOV NIC")
        for policy in [PlacementPolicy(), PlacementPolicy(resourceClass: .label)] {
            let tree = PlacementMapping.desiredTree(hostName: Self.host, devices: nic.reversed(), policy: policy)
            #expect(tree.providers.map(\.name) == [Self.name("0000:3b:00.0"), Self.name("0000:3b:01.0"), Self.name("0000:3b:01.1")])
            let pf = tree.providers[0]
            #expect(pf.parentName == nil)
            #expect(pf.inventories.isEmpty) // never a candidate for a whole-device request
            #expect(pf.traits == ["CUSTOM_HWLABEL_MANAGED", "CUSTOM_HWLABEL_DEV_8086_1593", "CUSTOM_HWLABEL_SR_IOV_NIC"])
            let rc = policy.resourceClass == .label ? "CUSTOM_HWLABEL_SR_IOV_NIC" : "CUSTOM_PCI_8086_1889"
            for vf in tree.providers.dropFirst() {
                #expect(vf.parentName == pf.name)
                #expect(vf.inventories == [rc: PlacementInventory(total: 1, maxUnit: 1)])
                #expect(vf.traits.contains(PlacementNames.readyTrait))
            }
            #expect(tree.skipped.isEmpty)
        }
    }

    @Test func aPFWhoseVFsAreOfferedIsNeverOfferedWhole() {
        let nic = PlacementTestHosts.sriovNIC(bus: "5e", vfs: 1, label: nil, pfMode: .wholeDevice)
        let tree = PlacementMapping.desiredTree(hostName: Self.host, devices: nic)
        #expect(tree.providers[0].name == Self.name("0000:5e:00.0"))
        #expect(tree.providers[0].inventories.isEmpty)
        #expect(tree.providers[1].parentName == tree.providers[0].name)
        #expect(tree.skipped.contains { $0.contains("0000:5e:00.0") && $0.contains("not whole") })
    }

    @Test func aVFWhosePFHasNoDescriptorNestsUnderABarePF() {
        let vfs = Array(PlacementTestHosts.sriovNIC(bus: "5e", vfs: 2, label: "NIC").dropFirst())
        let tree = PlacementMapping.desiredTree(hostName: Self.host, devices: vfs)
        #expect(tree.providers.map(\.name) == [Self.name("0000:5e:00.0"), Self.name("0000:5e:01.0"), Self.name("0000:5e:01.1")])
        #expect(tree.providers[0].traits == [PlacementNames.managedTrait] && tree.providers[0].inventories.isEmpty)
    }

    @Test func vgpuCardPublishesOnlyItsPublishedType() {
        let profiles = [("NVIDIA L40S-8Q", 5, 1), ("NVIDIA L40S-48Q", 0, 0), ("NVIDIA L40S-4Q", 0, 0)]
        let card = PlacementTestHosts.vgpuCard(
            address: "0000:41:00.0", label: "Inference GPU", profiles: profiles,
            published: "NVIDIA L40S-8Q")
        let tree = PlacementMapping.desiredTree(hostName: Self.host, devices: [card])
        let p = tree.providers[0]
        // Capacity = instances that exist + instances still creatable; no PCI class: never whole.
        #expect(p.inventories == ["CUSTOM_VGPU_NVIDIA_L40S_8Q": PlacementInventory(total: 6, reserved: 0, maxUnit: 6)])
        #expect(
            p.traits == [
                "CUSTOM_HWLABEL_MANAGED", "CUSTOM_HWLABEL_DEV_10DE_26B9", "CUSTOM_HWLABEL_INFERENCE_GPU", "CUSTOM_GPU_ARCH_ADA_LOVELACE",
            ])
        #expect(tree.skipped.isEmpty)

        // The type may be named by id too.
        var byID = card
        byID.vgpu!.publishedType = "1000"
        #expect(PlacementMapping.desiredTree(hostName: Self.host, devices: [byID]).providers[0].inventories == p.inventories)

        // Only not-ready reserves: what a passthrough check says of a GPU on `nvidia` does not.
        var afterBinding = card
        afterBinding.readiness = Readiness(
            state: .readyAfterBinding,
            reasons: [
                ReadinessReason(.notBoundToVFIO, severity: .binding, message: "on nvidia")
            ], remediation: [])
        #expect(
            PlacementMapping.desiredTree(hostName: Self.host, devices: [afterBinding]).providers[0].inventories
                == ["CUSTOM_VGPU_NVIDIA_L40S_8Q": PlacementInventory(total: 6, reserved: 0, maxUnit: 6)])
        var broken = card
        broken.readiness = Readiness(state: .notReady, reasons: [], remediation: [])
        #expect(
            PlacementMapping.desiredTree(hostName: Self.host, devices: [broken]).providers[0].inventories
                == ["CUSTOM_VGPU_NVIDIA_L40S_8Q": PlacementInventory(total: 6, reserved: 6, maxUnit: 6)])
        #expect(
            PlacementMapping.desiredTree(
                hostName: Self.host, devices: [broken],
                policy: PlacementPolicy(publishNotReady: false)
            ).providers.isEmpty)
    }

    @Test func idleCardWithNoChosenTypePublishesNoCapacityAndSaysHowToChoose() throws {
        let card = PlacementTestHosts.vgpuCard(
            address: "0000:41:00.0", profiles: [("NVIDIA L40S-8Q", 6, 0), ("NVIDIA L40S-48Q", 1, 0)],
            published: nil)
        let tree = PlacementMapping.desiredTree(hostName: Self.host, devices: [card])
        #expect(tree.providers.count == 1 && tree.providers[0].inventories.isEmpty)
        let warning = try #require(tree.skipped.first)
        #expect(warning.contains("vgpu-type address=0000:41:00.0 <type name>") && warning.contains("policy.conf"))
        #expect(warning.contains("NVIDIA L40S-48Q"))
        // The planner passes it on.
        let plan = PlacementPlanner.plan(current: PlacementState(root: nil), desired: tree)
        #expect(plan.warnings == tree.skipped)
        #expect(!plan.calls.contains { if case .setInventories = $0 { true } else { false } })

        var unknown = card
        unknown.vgpu!.publishedType = "NVIDIA L40S-2Q"
        let t2 = PlacementMapping.desiredTree(hostName: Self.host, devices: [unknown])
        #expect(t2.providers[0].inventories.isEmpty && t2.skipped.contains { $0.contains("L40S-2Q") })
    }

    @Test func vgpuVFsAreNeverPublished() {
        let card = PlacementTestHosts.vgpuCard(address: "0000:41:00.0", profiles: [("NVIDIA L40S-8Q", 6, 0)], published: "NVIDIA L40S-8Q")
        let slot = PlacementTestHosts.device(
            address: "0000:41:00.4", vendor: "10de", device: "26b9", label: nil, arch: nil,
            state: .ready, mode: .vgpuVF, physicalFunction: "0000:41:00.0", driver: "nvidia")
        let tree = PlacementMapping.desiredTree(hostName: Self.host, devices: [card, slot])
        #expect(tree.providers.map(\.name) == [Self.name("0000:41:00.0")])
    }

    @Test func anUnchangedTreePlansNothing() {
        let devices =
            PlacementTestHosts.sriovNIC(bus: "3b", vfs: 3, label: "NIC")
            + [PlacementTestHosts.vgpuCard(address: "0000:41:00.0", profiles: [("NVIDIA L40S-8Q", 6, 0)], published: "NVIDIA L40S-8Q")]
        let tree = PlacementMapping.desiredTree(hostName: Self.host, devices: devices)
        let plan = PlacementPlanner.plan(current: Self.state(after: tree), desired: tree)
        #expect(plan.calls.isEmpty)
    }

    /// Index of the first and last call matching `match`.
    static func span(_ calls: [PlacementCall], _ match: (PlacementCall) -> Bool) -> ClosedRange<Int>? {
        guard let a = calls.firstIndex(where: match), let b = calls.lastIndex(where: match) else { return nil }
        return a...b
    }

    @Test func wholeToSRIOVReservesThePFBeforeAnyVFIsWrittenAndWritesInventoriesLast() throws {
        let before = PlacementMapping.desiredTree(
            hostName: Self.host,
            devices: [
                PlacementTestHosts.device(
                    address: "0000:3b:00.0", vendor: "8086", device: "1593", label: "NIC",
                    arch: nil, state: .ready, classCode: "020000")
            ])
        let after = PlacementMapping.desiredTree(hostName: Self.host, devices: PlacementTestHosts.sriovNIC(bus: "3b", vfs: 2, label: "NIC"))
        let plan = PlacementPlanner.plan(current: Self.state(after: before), desired: after)
        let pf = Self.uuid("0000:3b:00.0")
        let calls = plan.calls.filter { $0.providerUUID != nil }
        #expect(
            calls.first
                == .reserveProvider(
                    uuid: pf, name: Self.name("0000:3b:00.0"), generation: 5,
                    inventories: ["CUSTOM_PCI_8086_1593": PlacementInventory(total: 1, reserved: 1, maxUnit: 1)]))
        let creates = try #require(Self.span(calls) { if case .createProvider = $0 { true } else { false } })
        let finals = try #require(Self.span(calls) { if case .setInventories = $0 { true } else { false } })
        #expect(creates.upperBound < finals.lowerBound && finals.upperBound == calls.count - 1)
        #expect(calls.contains(.createProvider(uuid: Self.uuid("0000:3b:01.0"), name: Self.name("0000:3b:01.0"), parentUUID: pf)))
        #expect(calls.contains(.setInventories(uuid: pf, name: Self.name("0000:3b:00.0"), generation: 7, inventories: [:])))
        #expect(plan.related[pf] == [Self.uuid("0000:3b:01.0"), Self.uuid("0000:3b:01.1")])
        #expect(plan.related[Self.uuid("0000:3b:01.1")] == [pf])
    }

    @Test func sriovToWholeDeletesTheVFsBeforeThePFGetsInventory() throws {
        let before = PlacementMapping.desiredTree(
            hostName: Self.host, devices: PlacementTestHosts.sriovNIC(bus: "3b", vfs: 2, label: "NIC"))
        let after = PlacementMapping.desiredTree(
            hostName: Self.host,
            devices: [
                PlacementTestHosts.device(
                    address: "0000:3b:00.0", vendor: "8086", device: "1593", label: "NIC",
                    arch: nil, state: .ready, classCode: "020000")
            ])
        var state = Self.state(after: before)
        let plan = PlacementPlanner.plan(current: state, desired: after)
        let calls = plan.calls.filter { $0.providerUUID != nil }
        let deletes = try #require(Self.span(calls) { if case .deleteProvider = $0 { true } else { false } })
        #expect(
            calls.last
                == .setInventories(
                    uuid: Self.uuid("0000:3b:00.0"), name: Self.name("0000:3b:00.0"), generation: 6,
                    inventories: ["CUSTOM_PCI_8086_1593": PlacementInventory(total: 1, maxUnit: 1)]))
        #expect(deletes.upperBound < calls.count - 1 && deletes.count == 2)

        // A VF still allocated is kept reserved; the PF still gets its inventory only last.
        state.providers[1].hasAllocations = true
        let kept = PlacementPlanner.plan(current: state, desired: after)
        #expect(kept.retained == [Self.name("0000:3b:01.0")])
        #expect(
            kept.calls.filter { $0.providerUUID != nil }.first
                == .retainProvider(
                    uuid: Self.uuid("0000:3b:01.0"), name: Self.name("0000:3b:01.0"), generation: 5,
                    inventories: ["CUSTOM_PCI_8086_1889": PlacementInventory(total: 1, reserved: 1, maxUnit: 1)]))
    }

    @Test func aRemovedPFIsDeletedAfterItsVFsAndKeptWhileAnAllocatedVFHangsUnderIt() {
        let before = PlacementMapping.desiredTree(hostName: Self.host, devices: PlacementTestHosts.sriovNIC(bus: "3b", vfs: 1, label: nil))
        var state = Self.state(after: before)
        let gone = DesiredTree(rootName: Self.host, providers: [])
        #expect(
            PlacementPlanner.plan(current: state, desired: gone).calls
                == [
                    .deleteProvider(uuid: Self.uuid("0000:3b:01.0"), name: Self.name("0000:3b:01.0")),
                    .deleteProvider(uuid: Self.uuid("0000:3b:00.0"), name: Self.name("0000:3b:00.0")),
                ])
        state.providers[1].hasAllocations = true
        let kept = PlacementPlanner.plan(current: state, desired: gone)
        #expect(kept.retained == [Self.name("0000:3b:00.0"), Self.name("0000:3b:01.0")])
        #expect(!kept.calls.contains { if case .deleteProvider = $0 { true } else { false } })
    }

    @Test func aFlatVFFromAnOlderReleaseIsMovedUnderItsPF() {
        let tree = PlacementMapping.desiredTree(hostName: Self.host, devices: PlacementTestHosts.sriovNIC(bus: "3b", vfs: 1, label: nil))
        var state = Self.state(after: tree)
        state.providers[1].parentUUID = Self.root.uuid
        let vf = Self.uuid("0000:3b:01.0"), name = Self.name("0000:3b:01.0")
        #expect(
            PlacementPlanner.plan(current: state, desired: tree).calls == [
                .reserveProvider(
                    uuid: vf, name: name, generation: 5,
                    inventories: ["CUSTOM_PCI_8086_1889": PlacementInventory(total: 1, reserved: 1, maxUnit: 1)]),
                .setParent(uuid: vf, name: name, parentUUID: Self.uuid("0000:3b:00.0")),
                .setInventories(
                    uuid: vf, name: name, generation: 6, inventories: ["CUSTOM_PCI_8086_1889": PlacementInventory(total: 1, maxUnit: 1)]),
            ])
        #expect(
            PlacementCall.setParent(uuid: vf, name: name, parentUUID: "p").description
                == "PUT /resource_providers/\(vf) {\"name\":\"\(name)\",\"parent_provider_uuid\":\"p\"}")
    }

    @Test func goingNotReadyReservesFirstAndNeedsNoFinalWrite() {
        let ready = [
            PlacementTestHosts.device(address: "0000:3b:00.0", vendor: "10de", device: "1eb8", label: "T", arch: nil, state: .ready)
        ]
        var notReady = ready
        notReady[0].readiness = Readiness(state: .notReady, reasons: [], remediation: [])
        let state = Self.state(after: PlacementMapping.desiredTree(hostName: Self.host, devices: ready))
        let calls = PlacementPlanner.plan(current: state, desired: PlacementMapping.desiredTree(hostName: Self.host, devices: notReady))
            .calls
        #expect(calls.map(\.method) == ["PUT", "PUT"])
        guard case .reserveProvider = calls[0], case .setTraits(_, _, _, let traits) = calls[1] else {
            Issue.record("expected reserve then traits, got \(calls)"); return
        }
        #expect(!traits.contains(PlacementNames.readyTrait))
    }
}
