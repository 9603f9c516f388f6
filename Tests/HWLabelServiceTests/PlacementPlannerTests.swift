import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe
@testable import HWLabelService

/// Pure tests of naming, mapping and planning (no server).
@Suite struct PlacementPlannerTests {
    @Test(arguments: [
        ("Turing GPU", "CUSTOM_HWLABEL_TURING_GPU"),
        ("a100 (80GB)", "CUSTOM_HWLABEL_A100_80GB_"),
        ("x--y", "CUSTOM_HWLABEL_X_Y"),
        ("Team_A/gpu", "CUSTOM_HWLABEL_TEAM_A_GPU"),
    ])
    func labelTraits(label: String, trait: String) throws {
        #expect(PlacementNames.labelTrait(label) == trait)
        // Same rule as the label's own exported form.
        if let l = try? HardwareLabel(validating: label) { #expect(l.placementTrait == trait) }
    }

    @Test func namesAreBoundedAndValid() {
        let long = String(repeating: "x", count: 400)
        let t = PlacementNames.labelTrait(long)!
        #expect(t.count == 255)
        #expect(PlacementNames.isValidCustom(t))
        #expect(PlacementNames.labelTrait("()") == nil)
        #expect(PlacementNames.pciResourceClass(vendor: "10de", device: "1eb8") == "CUSTOM_PCI_10DE_1EB8")
        #expect(PlacementNames.vgpuResourceClass("GRID T4-2Q") == "CUSTOM_VGPU_GRID_T4_2Q")
    }

    @Test func mappingTraitsAndReadiness() {
        var gpu = PlacementTestHosts.device(
            address: "0000:3b:00.0", vendor: "10de", device: "1eb8",
            label: "Turing GPU", arch: "Turing", state: .ready)
        // mdev types on a card offered whole are not offered too: one mode at a time.
        gpu.capacity.mdevTypes = [
            MdevType(id: "nvidia-222", name: "GRID T4-2Q", availableInstances: 8),
            MdevType(id: "nvidia-223", name: nil, availableInstances: 0),
        ]
        let waiting = PlacementTestHosts.device(
            address: "0000:5e:00.0", vendor: "10de", device: "1eb8",
            label: nil, arch: nil, state: .readyAfterBinding)
        let tree = PlacementMapping.desiredTree(hostName: "compute-1", devices: [waiting, gpu])
        #expect(tree.providers.map(\.name) == ["compute-1_0000:3b:00.0", "compute-1_0000:5e:00.0"])
        let p = tree.providers[0]
        #expect(
            p.traits == [
                "CUSTOM_HWLABEL_MANAGED", "CUSTOM_HWLABEL_DEV_10DE_1EB8", "CUSTOM_HWLABEL_TURING_GPU", "CUSTOM_GPU_ARCH_TURING",
                "CUSTOM_PASSTHROUGH_READY",
            ])
        #expect(p.inventories == ["CUSTOM_PCI_10DE_1EB8": PlacementInventory(total: 1, maxUnit: 1)])
        #expect(p.parentName == nil)
        let w = tree.providers[1]
        #expect(w.traits == ["CUSTOM_HWLABEL_MANAGED", "CUSTOM_HWLABEL_DEV_10DE_1EB8", "CUSTOM_PASSTHROUGH_READY_AFTER_BINDING"])
        #expect(w.inventories["CUSTOM_PCI_10DE_1EB8"] == PlacementInventory(total: 1, reserved: 1, maxUnit: 1))
        #expect(!tree.providers.contains { $0.traits.contains("COMPUTE_MANAGED_PCI_DEVICE") })

        let byLabel = PlacementMapping.desiredTree(
            hostName: "h", devices: [gpu, waiting],
            policy: PlacementPolicy(resourceClass: .label, readyAfterBindingIsReady: true))
        #expect(byLabel.providers[0].inventories["CUSTOM_HWLABEL_TURING_GPU"] != nil)
        #expect(byLabel.providers[1].inventories["CUSTOM_PCI_10DE_1EB8"] == PlacementInventory(total: 1, maxUnit: 1))
        #expect(byLabel.providers[1].traits.contains("CUSTOM_PASSTHROUGH_READY"))
    }

    @Test func firstSyncThenUnchangedPlansNothing() {
        let devs = [
            PlacementTestHosts.device(
                address: "0000:3b:00.0", vendor: "10de", device: "1eb8",
                label: "Turing GPU", arch: "Turing", state: .ready)
        ]
        let tree = PlacementMapping.desiredTree(hostName: "h1", devices: devs)
        let first = PlacementPlanner.plan(current: PlacementState(root: nil), desired: tree)
        // 1 class + 5 traits (managed, identity, label, architecture, ready), root, child, traits, inventory.
        #expect(first.calls.map(\.method) == ["PUT", "PUT", "PUT", "PUT", "PUT", "PUT", "POST", "POST", "PUT", "PUT"])
        #expect(first.calls.contains(.ensureResourceClass("CUSTOM_PCI_10DE_1EB8")))

        // What Placement holds after the first sync.
        let root = ProviderState(uuid: PlacementUUID.forRoot("h1"), name: "h1", generation: 0, parentUUID: nil)
        let d = tree.providers[0]
        let child = ProviderState(
            uuid: PlacementUUID.forDevice(d.name), name: d.name, generation: 2, parentUUID: root.uuid,
            inventories: d.inventories, traits: d.traits)
        let state = PlacementState(
            root: root, providers: [child], existingTraits: d.traits,
            existingResourceClasses: Set(d.inventories.keys))
        #expect(PlacementPlanner.plan(current: state, desired: tree).calls.isEmpty)

        // Relabel: reserve at the current generation, move the trait, then unreserve.
        var relabelled = devs
        relabelled[0].label = LabelAssignment(name: "Render GPU", source: "instance")
        let plan = PlacementPlanner.plan(current: state, desired: PlacementMapping.desiredTree(hostName: "h1", devices: relabelled))
        #expect(plan.calls.count == 4)
        #expect(plan.calls[0] == .ensureTrait("CUSTOM_HWLABEL_RENDER_GPU"))
        #expect(
            plan.calls[1]
                == .reserveProvider(
                    uuid: child.uuid, name: child.name, generation: 2,
                    inventories: ["CUSTOM_PCI_10DE_1EB8": PlacementInventory(total: 1, reserved: 1, maxUnit: 1)]))
        guard case .setTraits(_, _, let gen, let traits) = plan.calls[2] else { Issue.record("expected traits"); return }
        #expect(gen == 3 && traits.contains("CUSTOM_HWLABEL_RENDER_GPU") && !traits.contains("CUSTOM_HWLABEL_TURING_GPU"))
        #expect(plan.calls[3] == .setInventories(uuid: child.uuid, name: child.name, generation: 4, inventories: d.inventories))

        // Removal: delete when free, reserve when allocated.
        let gone = PlacementMapping.desiredTree(hostName: "h1", devices: [])
        #expect(PlacementPlanner.plan(current: state, desired: gone).calls == [.deleteProvider(uuid: child.uuid, name: child.name)])
        var allocated = state
        allocated.providers[0].hasAllocations = true
        let keep = PlacementPlanner.plan(current: allocated, desired: gone)
        #expect(keep.retained == [child.name])
        #expect(
            keep.calls == [
                .retainProvider(
                    uuid: child.uuid, name: child.name, generation: 2,
                    inventories: ["CUSTOM_PCI_10DE_1EB8": PlacementInventory(total: 1, reserved: 1, maxUnit: 1)])
            ])
    }

    @Test func foreignProvidersAreNeverTouched() {
        let root = ProviderState(uuid: "11111111-1111-1111-1111-111111111111", name: "nova-1", generation: 7, parentUUID: nil)
        // Nova's own PCI provider with the same name, and another of Nova's children.
        let novaPCI = ProviderState(
            uuid: "22222222-2222-2222-2222-222222222222", name: "nova-1_0000:3b:00.0", generation: 3,
            parentUUID: root.uuid, inventories: ["CUSTOM_PCI_10DE_1EB8": PlacementInventory(total: 1, maxUnit: 1)],
            traits: ["COMPUTE_MANAGED_PCI_DEVICE"])
        let other = ProviderState(
            uuid: "33333333-3333-3333-3333-333333333333", name: "nova-1_pgpu", generation: 1,
            parentUUID: root.uuid, traits: [])
        let devs = [
            PlacementTestHosts.device(address: "0000:3b:00.0", vendor: "10de", device: "1eb8", label: "x", arch: nil, state: .ready)
        ]
        let plan = PlacementPlanner.plan(
            current: PlacementState(
                root: root, providers: [novaPCI, other],
                existingTraits: ["CUSTOM_HWLABEL_X", "CUSTOM_HWLABEL_MANAGED", "CUSTOM_HWLABEL_DEV_10DE_1EB8", "CUSTOM_PASSTHROUGH_READY"],
                existingResourceClasses: ["CUSTOM_PCI_10DE_1EB8"]),
            desired: PlacementMapping.desiredTree(hostName: "nova-1", devices: devs))
        #expect(plan.calls.isEmpty)
        #expect(plan.warnings.count == 1)
    }

    @Test func deterministicUUIDs() {
        let a = PlacementUUID.forDevice("h_0000:01:00.0")
        #expect(a == PlacementUUID.forDevice("h_0000:01:00.0"))
        #expect(a != PlacementUUID.forDevice("h_0000:01:00.1"))
        #expect(UUID(uuidString: a) != nil)
        #expect(
            PlacementCall.setTraits(uuid: a, name: "n", generation: 3, traits: ["B", "A"]).description
                == "PUT /resource_providers/\(a)/traits {\"resource_provider_generation\":3,\"traits\":[\"A\",\"B\"]}")
    }
}
