import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe
@testable import HWLabelService

/// Pure tests of the identity trait and of a card swapped at a provider's address: a provider
/// allocated to the old card keeps the old card's traits and inventory, reserved, until its
/// allocations are gone; one without allocations is rewritten at once.
@Suite struct PlacementSwapTests {
    static let host = "swap-1"
    static let address = "0000:3b:00.0"
    static let name = "\(host)_\(address)"
    static let uuid = PlacementUUID.forDevice(name)

    /// The T4 labelled "Inference T4" that was in the slot.
    static func t4() -> AssignableDevice {
        DeviceFixtures.assignable(
            address, vendor: "10de", device: "1eb8", subsystem: ("10de", "12a2"), classCode: "030200",
            label: LabelAssignment(name: "Inference T4", source: "instance"), state: .ready, arch: "Turing")
    }

    /// The A10 put into the same slot: the T4's instance label names the T4, so it is unlabelled.
    static func a10() -> AssignableDevice {
        DeviceFixtures.assignable(
            address, vendor: "10de", device: "2236", subsystem: ("10de", "1482"), classCode: "030200",
            state: .ready, arch: "Ampere")
    }

    static func tree(_ devices: [AssignableDevice]) -> DesiredTree {
        PlacementMapping.desiredTree(hostName: host, devices: devices)
    }

    /// What Placement holds after a sync of `devices`, with allocations as given.
    static func state(after devices: [AssignableDevice], allocated: Bool?, generation: Int = 2) -> PlacementState {
        let root = ProviderState(uuid: PlacementUUID.forRoot(host), name: host, generation: 0, parentUUID: nil)
        let desired = tree(devices)
        let providers = desired.providers.map { d in
            ProviderState(
                uuid: PlacementUUID.forDevice(d.name), name: d.name, generation: generation, parentUUID: root.uuid,
                inventories: d.inventories, traits: d.traits, hasAllocations: allocated)
        }
        return PlacementState(
            root: root, providers: providers,
            existingTraits: Set(desired.providers.flatMap(\.traits)),
            existingResourceClasses: Set(desired.providers.flatMap(\.inventories.keys)))
    }

    /// Every call of `plan` that writes to `uuid`.
    static func calls(_ plan: PlacementPlan, to uuid: String) -> [PlacementCall] {
        plan.calls.filter { $0.providerUUID == uuid }
    }

    @Test func identityTraitNamesVendorDeviceAndSubsystem() {
        let t4 = RecordedIdentity(vendor: "10de", device: "1eb8", subsystemVendor: "10de", subsystemDevice: "12a2", classCode: "030200")
        let trait = PlacementNames.identityTrait(t4)
        #expect(trait == "CUSTOM_HWLABEL_DEV_10DE_1EB8_10DE_12A2")
        #expect(PlacementNames.isValidCustom(trait) && PlacementNames.isIdentityTrait(trait))
        #expect(PlacementNames.identityDescription(trait: trait) == "10de:1eb8 subsystem 10de:12a2")
        // The class is left out: a GPU switched between display and 3D controller is the same card.
        var display = t4
        display.classCode = "030000"
        #expect(PlacementNames.identityTrait(display) == trait)

        let bare = RecordedIdentity(vendor: "8086", device: "1593", subsystemVendor: nil, subsystemDevice: nil, classCode: "020000")
        #expect(PlacementNames.identityTrait(bare) == "CUSTOM_HWLABEL_DEV_8086_1593")
        #expect(PlacementNames.identityDescription(trait: "CUSTOM_HWLABEL_DEV_8086_1593") == "8086:1593")

        for other in [
            "CUSTOM_HWLABEL_MANAGED", "CUSTOM_HWLABEL_DEV_TURING", "CUSTOM_HWLABEL_DEV_10DE_1EB8_10DE",
            "CUSTOM_HWLABEL_DEV_10DE_1EB8_", "CUSTOM_HWLABEL_DEV_10DE_1EB8_10DE_12A2_0302", "CUSTOM_PCI_10DE_1EB8",
        ] {
            #expect(!PlacementNames.isIdentityTrait(other), "\(other)")
            #expect(PlacementNames.identityDescription(trait: other) == nil)
        }
    }

    /// Every provider that describes a card carries its identity trait, in every mode; the bare
    /// PF made only to nest VFs under describes none.
    @Test func everyDeviceProviderCarriesItsIdentityTrait() {
        let t = Self.tree([Self.t4()])
        #expect(t.providers[0].traits.contains("CUSTOM_HWLABEL_DEV_10DE_1EB8_10DE_12A2"))
        #expect(t.providers[0].identity == RecordedIdentity(Self.t4().attributes))

        let nic = PlacementTestHosts.sriovNIC(bus: "6a", vfs: 2, label: nil)
        let sriov = PlacementMapping.desiredTree(hostName: "h", devices: nic)
        #expect(
            sriov.providers.map { $0.traits.filter(PlacementNames.isIdentityTrait) } == [
                ["CUSTOM_HWLABEL_DEV_8086_1593"], ["CUSTOM_HWLABEL_DEV_8086_1889"], ["CUSTOM_HWLABEL_DEV_8086_1889"],
            ])
        // VFs whose PF has no descriptor: the PF's provider is bare.
        let orphans = PlacementMapping.desiredTree(hostName: "h", devices: Array(nic.dropFirst()))
        #expect(orphans.providers[0].identity == nil && orphans.providers[0].traits == [PlacementNames.managedTrait])

        let vgpu = PlacementTestHosts.vgpuCard(address: "0000:41:00.0", profiles: [("NVIDIA L40S-8Q", 6, 0)], published: "NVIDIA L40S-8Q")
        #expect(PlacementMapping.desiredTree(hostName: "h", devices: [vgpu]).providers[0].traits.contains("CUSTOM_HWLABEL_DEV_10DE_26B9"))
    }

    /// The T4's provider holds an allocation; an A10 now sits at its address. Nothing of the
    /// A10 is written to it: it is reserved (once), keeps the T4's traits and inventory, and a
    /// warning names it, both cards and what lifts it. An unchanged resync writes nothing.
    @Test func anAllocatedProviderKeepsTheOldCardReserved() throws {
        let current = Self.state(after: [Self.t4()], allocated: true)
        let desired = Self.tree([Self.a10()])
        let plan = PlacementPlanner.plan(current: current, desired: desired)

        let t4Inventory = try #require(current.providers.first?.inventories)
        #expect(t4Inventory == ["CUSTOM_PCI_10DE_1EB8": PlacementInventory(total: 1, maxUnit: 1)])
        #expect(
            Self.calls(plan, to: Self.uuid) == [
                .retainProvider(uuid: Self.uuid, name: Self.name, generation: 2, inventories: t4Inventory.fullyReserved)
            ])
        #expect(!plan.replacing.contains(Self.uuid) && plan.held == [Self.name])
        let warning = try #require(plan.warnings.first { $0.hasPrefix(Self.name) })
        #expect(warning.contains("10de:1eb8 subsystem 10de:12a2"), "\(warning)")
        #expect(warning.contains("10de:2236 subsystem 10de:1482"), "\(warning)")
        #expect(warning.contains("reserved until its allocations are removed"), "\(warning)")

        // Next sync, the provider as that one left it: still allocated, already reserved.
        var reserved = current
        reserved.providers[0].inventories = t4Inventory.fullyReserved
        reserved.providers[0].generation = 3
        reserved.existingTraits.formUnion(desired.providers.flatMap(\.traits))
        reserved.existingResourceClasses.formUnion(desired.providers.flatMap(\.inventories.keys))
        let again = PlacementPlanner.plan(current: reserved, desired: desired)
        #expect(again.calls.isEmpty, "\(again.calls)")
        #expect(again.warnings.contains { $0.hasPrefix(Self.name) && $0.contains("10de:1eb8") })

        // Allocations gone: the A10's traits, then its inventory, last.
        reserved.providers[0].hasAllocations = false
        let rewrite = PlacementPlanner.plan(current: reserved, desired: desired)
        let a10 = desired.providers[0]
        #expect(rewrite.replacing == [Self.uuid] && rewrite.held.isEmpty)
        #expect(
            Self.calls(rewrite, to: Self.uuid) == [
                .setTraits(uuid: Self.uuid, name: Self.name, generation: 3, traits: a10.traits),
                .setInventories(uuid: Self.uuid, name: Self.name, generation: 4, inventories: a10.inventories),
            ])
        #expect(a10.traits.contains("CUSTOM_HWLABEL_DEV_10DE_2236_10DE_1482") && !a10.traits.contains("CUSTOM_HWLABEL_INFERENCE_T4"))
        #expect(a10.inventories == ["CUSTOM_PCI_10DE_2236": PlacementInventory(total: 1, maxUnit: 1)])
    }

    /// Without allocations the provider is rewritten for the new card in the same sync, in the
    /// usual order: reserve, traits, inventory last; the new card's trait and class exist first.
    @Test func anUnallocatedProviderIsRewrittenAtOnce() {
        let current = Self.state(after: [Self.t4()], allocated: false)
        let desired = Self.tree([Self.a10()])
        let plan = PlacementPlanner.plan(current: current, desired: desired)
        let a10 = desired.providers[0]
        #expect(plan.replacing == [Self.uuid])
        #expect(
            plan.calls == [
                .ensureResourceClass("CUSTOM_PCI_10DE_2236"),
                .ensureTrait("CUSTOM_GPU_ARCH_AMPERE"),
                .ensureTrait("CUSTOM_HWLABEL_DEV_10DE_2236_10DE_1482"),
                .reserveProvider(
                    uuid: Self.uuid, name: Self.name, generation: 2,
                    inventories: ["CUSTOM_PCI_10DE_1EB8": PlacementInventory(total: 1, reserved: 1, maxUnit: 1)]),
                .setTraits(uuid: Self.uuid, name: Self.name, generation: 3, traits: a10.traits),
                .setInventories(uuid: Self.uuid, name: Self.name, generation: 4, inventories: a10.inventories),
            ])
        #expect(plan.warnings.contains { $0.hasPrefix(Self.name) && $0.contains("rewritten") })
    }

    /// The same card, allocated, relabelled: not a swap, changed as always.
    @Test func anAllocatedProviderOfTheSameCardIsStillChanged() {
        var relabelled = Self.t4()
        relabelled.label = LabelAssignment(name: "Render T4", source: "instance")
        let plan = PlacementPlanner.plan(current: Self.state(after: [Self.t4()], allocated: true), desired: Self.tree([relabelled]))
        #expect(Self.calls(plan, to: Self.uuid).map(\.method) == ["PUT", "PUT", "PUT"])
        #expect(plan.replacing.isEmpty && plan.warnings.isEmpty)
        #expect(
            PlacementPlanner.describesAnotherCard(
                Self.state(after: [Self.t4()], allocated: true).providers[0], Self.tree([relabelled]).providers[0]) == nil)
    }

    /// A provider published before identity traits existed: another PCI class means another
    /// card (held while allocated); the same class gets the identity trait added.
    @Test func aProviderWithoutIdentityTraitIsToldByItsPCIClass() throws {
        var legacy = Self.state(after: [Self.t4()], allocated: true)
        legacy.providers[0].traits = legacy.providers[0].traits.filter { !PlacementNames.isIdentityTrait($0) }

        let swapped = PlacementPlanner.plan(current: legacy, desired: Self.tree([Self.a10()]))
        #expect(Self.calls(swapped, to: Self.uuid).map(\.method) == ["PUT"])
        guard case .retainProvider = try #require(Self.calls(swapped, to: Self.uuid).first) else {
            Issue.record("expected the provider reserved"); return
        }
        #expect(swapped.warnings.contains { $0.hasPrefix(Self.name) && $0.contains("(10de:1eb8)") }, "\(swapped.warnings)")

        let same = PlacementPlanner.plan(current: legacy, desired: Self.tree([Self.t4()]))
        let t4 = Self.tree([Self.t4()]).providers[0]
        #expect(same.replacing.isEmpty && same.warnings.isEmpty)
        #expect(Self.calls(same, to: Self.uuid).contains(.setTraits(uuid: Self.uuid, name: Self.name, generation: 3, traits: t4.traits)))

        // By label class, a provider without identity trait has no PCI class to tell by: not a swap.
        var byLabel = legacy
        byLabel.providers[0].inventories = ["CUSTOM_HWLABEL_INFERENCE_T4": PlacementInventory(total: 1, maxUnit: 1)]
        #expect(PlacementPlanner.describesAnotherCard(byLabel.providers[0], Self.tree([Self.a10()]).providers[0]) == nil)
    }

    /// Write order with a held provider among others: every reserve comes before any other
    /// write to a provider, the held one gets nothing but its reserve, and the only writes that
    /// can make a provider schedulable (final inventories) come last.
    @Test func writeOrderHoldsWithAHeldProvider() {
        let other = "0000:5e:00.0"
        let neighbour = DeviceFixtures.assignable(
            other, vendor: "10de", device: "1eb8", subsystem: ("10de", "12a2"), classCode: "030200", state: .ready)
        var current = Self.state(after: [Self.t4(), neighbour], allocated: true)
        // The neighbour is also swapped, but free; a third card is new.
        current.providers[1].hasAllocations = false
        let swappedNeighbour = DeviceFixtures.assignable(
            other, vendor: "10de", device: "2236", subsystem: ("10de", "1482"), classCode: "030200", state: .ready)
        let added = DeviceFixtures.assignable(
            "0000:af:00.0", vendor: "10de", device: "2236", subsystem: ("10de", "1482"), classCode: "030200", state: .ready)
        let plan = PlacementPlanner.plan(current: current, desired: Self.tree([Self.a10(), swappedNeighbour, added]))

        let kinds = plan.calls.map { call -> Int in
            switch call {
            case .ensureResourceClass, .ensureTrait: 0
            case .createProvider where call.providerName == Self.host: 0
            case .reserveProvider, .retainProvider: 1
            case .createProvider, .setParent, .setTraits: 2
            case .deleteProvider: 3
            case .setInventories: 4
            }
        }
        #expect(kinds == kinds.sorted(), "\(plan.calls.map(\.description))")
        #expect(Self.calls(plan, to: Self.uuid).count == 1)
        #expect(!plan.calls.contains { $0.providerUUID == Self.uuid && $0.method == "PUT" && $0.path.hasSuffix("/traits") })
        let neighbourUUID = PlacementUUID.forDevice("\(Self.host)_\(other)")
        #expect(plan.replacing == [neighbourUUID])
        #expect(Self.calls(plan, to: neighbourUUID).map(\.path).last?.hasSuffix("/inventories") == true)
    }
}
