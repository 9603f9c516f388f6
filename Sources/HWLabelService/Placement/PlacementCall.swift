import Foundation

/// One write the planner wants made, in the order it must be made.
public enum PlacementCall: Sendable, Hashable {
    /// `PUT /resource_classes/{name}` (201 created, 204 existed).
    case ensureResourceClass(String)
    /// `PUT /traits/{name}` (201 created, 204 existed).
    case ensureTrait(String)
    /// `POST /resource_providers` (200 at ≥ 1.20).
    case createProvider(uuid: String, name: String, parentUUID: String?)
    /// `PUT /resource_providers/{uuid}/inventories` with the provider generation: the final
    /// inventory of a provider, written after its traits and parent.
    case setInventories(uuid: String, name: String, generation: Int, inventories: [String: PlacementInventory])
    /// A provider about to change: `PUT …/inventories` with its current inventory and
    /// `reserved = total`, so nothing is scheduled on it until its new traits and inventory are
    /// all written (a sync that stops half-way leaves it reserved, never half-changed).
    case reserveProvider(uuid: String, name: String, generation: Int, inventories: [String: PlacementInventory])
    /// `PUT /resource_providers/{uuid}` `{"name", "parent_provider_uuid"}`: moves a provider
    /// under another (microversion ≥ 1.37); the generation does not move.
    case setParent(uuid: String, name: String, parentUUID: String)
    /// `PUT /resource_providers/{uuid}/traits` with the provider generation.
    case setTraits(uuid: String, name: String, generation: Int, traits: Set<String>)
    /// `DELETE /resource_providers/{uuid}`; on 409 `placement.resource_provider.inuse` the
    /// executor keeps it and reserves its whole inventory instead.
    case deleteProvider(uuid: String, name: String)
    /// A provider that still has allocations for a device that is gone (removed, or replaced by
    /// another card at its address): `PUT …/inventories` with `reserved = total` so nothing new
    /// lands on it.
    case retainProvider(uuid: String, name: String, generation: Int, inventories: [String: PlacementInventory])

    public var method: String {
        switch self {
        case .ensureResourceClass, .ensureTrait, .setInventories, .setTraits, .retainProvider, .reserveProvider, .setParent: "PUT"
        case .createProvider: "POST"
        case .deleteProvider: "DELETE"
        }
    }

    public var path: String {
        switch self {
        case .ensureResourceClass(let n): "/resource_classes/\(n)"
        case .ensureTrait(let n): "/traits/\(n)"
        case .createProvider: "/resource_providers"
        case .setInventories(let u, _, _, _), .retainProvider(let u, _, _, _), .reserveProvider(let u, _, _, _):
            "/resource_providers/\(u)/inventories"
        case .setParent(let u, _, _): "/resource_providers/\(u)"
        case .setTraits(let u, _, _, _): "/resource_providers/\(u)/traits"
        case .deleteProvider(let u, _): "/resource_providers/\(u)"
        }
    }

    /// The provider the call writes to, if any.
    public var providerUUID: String? {
        switch self {
        case .ensureResourceClass, .ensureTrait: nil
        case .createProvider(let u, _, _), .setInventories(let u, _, _, _), .setTraits(let u, _, _, _),
            .deleteProvider(let u, _), .retainProvider(let u, _, _, _), .reserveProvider(let u, _, _, _),
            .setParent(let u, _, _):
            u
        }
    }

    /// The provider's name, if the call writes to one.
    public var providerName: String? {
        switch self {
        case .ensureResourceClass, .ensureTrait: nil
        case .createProvider(_, let n, _), .setInventories(_, let n, _, _), .setTraits(_, let n, _, _),
            .deleteProvider(_, let n), .retainProvider(_, let n, _, _), .reserveProvider(_, let n, _, _),
            .setParent(_, let n, _):
            n
        }
    }

    /// The JSON body (sorted keys), with `generation` overriding the planned one when given.
    public func body(generation override: Int? = nil) -> Data? {
        let object: [String: Any]
        switch self {
        case .ensureResourceClass, .ensureTrait, .deleteProvider:
            return nil
        case .createProvider(let uuid, let name, let parent):
            var o: [String: Any] = ["name": name, "uuid": uuid]
            if let parent { o["parent_provider_uuid"] = parent }
            object = o
        case .setParent(_, let name, let parent):
            object = ["name": name, "parent_provider_uuid": parent]
        case .setInventories(_, _, let gen, let inv), .retainProvider(_, _, let gen, let inv),
            .reserveProvider(_, _, let gen, let inv):
            var invs: [String: Any] = [:]
            for (rc, i) in inv { invs[rc] = ["total": i.total, "reserved": i.reserved, "max_unit": i.maxUnit] }
            object = ["resource_provider_generation": override ?? gen, "inventories": invs]
        case .setTraits(_, _, let gen, let traits):
            object = ["resource_provider_generation": override ?? gen, "traits": traits.sorted()]
        }
        return try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// `PUT /resource_providers/…/traits {"resource_provider_generation":0,…}`: what the dry run prints.
    public var description: String {
        var s = "\(method) \(path)"
        if let b = body() { s += " " + String(decoding: b, as: UTF8.self) }
        if case .retainProvider = self { s += "   # allocated to a device that is gone or was replaced: kept, reserved" }
        if case .reserveProvider = self { s += "   # changing: reserved until its new state is written" }
        if case .deleteProvider = self { s += "   # device removed (kept and reserved if it has allocations)" }
        return s
    }
}
