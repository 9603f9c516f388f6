import HWLabelProbe

/// Finds the devices of `passthrough.conf` in a snapshot, by the instance id they were recorded
/// under (so a card with a serial number is found in any slot), and says whether the card there
/// is still the one recorded. Makes the records `enable` writes. Pure.
public struct PassthroughRecordLocator: Sendable {
    public let snapshot: Snapshot
    /// Instance id → address, for every function of the snapshot.
    let byInstance: [String: PCIAddress]
    let instanceOf: [PCIAddress: String]

    public init(snapshot: Snapshot) {
        self.snapshot = snapshot
        let ids = InstanceIdentifier(snapshot: snapshot).identities(for: Array(snapshot.functions.indices))
        var by: [String: PCIAddress] = [:]
        for (a, id) in ids { by[id.id] = a }
        byInstance = by
        instanceOf = ids.mapValues(\.id)
    }

    /// Where a recorded device is now.
    public enum Place: Sendable, Hashable {
        /// At this address, with the recorded identity.
        case present(PCIAddress)
        /// Another card is at the recorded instance: it must not be bound.
        case drift(PCIAddress, IdentityDrift)
        /// No function has the recorded instance id (the card was removed, or, with a serial
        /// number, replaced by another).
        case absent
    }

    public func locate(_ r: PassthroughRecord) -> Place {
        let bare = r.key.hasPrefix("address:") ? String(r.key.dropFirst("address:".count)) : r.key
        let address = PCIAddress(bare) ?? byInstance[r.key]
        guard let address, let f = snapshot.function(at: address) else { return .absent }
        let present = RecordedIdentity(f)
        if present == r.identity { return .present(address) }
        return .drift(address, IdentityDrift(source: .passthrough, key: r.key, recorded: r.identity, present: present))
    }

    /// Where member `m` of `r` is when the device is at `now`: where it was when the device did
    /// not move; the same function number in the device's new slot when it shared the device's
    /// slot (a GPU's audio function moves with it); else nil.
    public func memberAddress(_ m: PassthroughRecord.Member, of r: PassthroughRecord, deviceAt now: PCIAddress) -> PCIAddress? {
        if now == r.address { return m.address }
        guard m.address.slot == r.address.slot else { return nil }
        return PCIAddress(domain: now.domain, bus: now.bus, device: now.device, function: m.address.function)
    }

    /// What `apply` names for a record found at `now`: the device, and the members that went to
    /// VFIO as named ones (`target`, `group-member`) while they still have their recorded
    /// identity. Companions come with the device by themselves.
    public func applyTargets(_ r: PassthroughRecord, at now: PCIAddress) -> [PassthroughTarget] {
        var out: [PassthroughTarget] = [.address(now)]
        for m in r.members where m.role == .target || m.role == .groupMember {
            guard let a = memberAddress(m, of: r, deviceAt: now), let f = snapshot.function(at: a), RecordedIdentity(f) == m.identity
            else { continue }
            out.append(.address(a))
        }
        return out
    }

    /// The drivers `disable` restores for a record found at `now`: the device's and its
    /// members' previous drivers, by their addresses now.
    public func previousDrivers(_ r: PassthroughRecord, at now: PCIAddress) -> [PCIAddress: String] {
        var out: [PCIAddress: String] = [:]
        if let p = r.previousDriver { out[now] = p }
        for m in r.members {
            if let p = m.previousDriver, let a = memberAddress(m, of: r, deviceAt: now) { out[a] = p }
        }
        return out
    }

    /// Every address a record covers when the device is at `now`: the device and its members.
    public func addresses(_ r: PassthroughRecord, at now: PCIAddress) -> [PCIAddress] {
        [now] + r.members.compactMap { memberAddress($0, of: r, deviceAt: now) }
    }

    /// A recorded device's state now, for `status`.
    public enum State: Sendable, Hashable {
        /// Present, on a VFIO driver.
        case bound(PCIAddress, driver: String)
        /// Present, on another driver (nil: none): `apply` would bind it.
        case notBound(PCIAddress, driver: String?)
        case absent
        /// Another card at its instance: `apply` does not bind it.
        case drift(PCIAddress, IdentityDrift)
    }

    public func state(_ r: PassthroughRecord) -> State {
        switch locate(r) {
        case .absent: return .absent
        case .drift(let a, let d): return .drift(a, d)
        case .present(let a):
            let driver = snapshot.function(at: a)?.driver
            if let d = driver, VGPUCapacity.isVFIODriver(d) { return .bound(a, driver: d) }
            return .notBound(a, driver: driver)
        }
    }

    // MARK: - Records enable makes

    /// The records a successful `enable` of `plan` writes: one per target, keyed by its instance
    /// id, with the driver it had (kept from `existing` when it was already on VFIO) and every
    /// other function of its group.
    public func records(enabledBy plan: PassthroughPlan, existing: [PassthroughRecord] = []) -> [PassthroughRecord] {
        func previous(_ p: PlannedFunction, _ old: String?) -> String? {
            guard let d = p.currentDriver, !VGPUCapacity.isVFIODriver(d) else { return old }
            return d
        }
        return plan.functions.compactMap { t -> PassthroughRecord? in
            guard t.role == .target, let f = snapshot.function(at: t.address) else { return nil }
            let key = instanceOf[t.address] ?? "address:\(t.address)"
            let old = existing.first { $0.key == key }
            let members = plan.functions.filter { $0.address != t.address && $0.group != nil && $0.group == t.group }.compactMap {
                m -> PassthroughRecord.Member? in
                guard let mf = snapshot.function(at: m.address) else { return nil }
                let oldMember = old?.members.first { $0.address == m.address }
                return PassthroughRecord.Member(
                    address: m.address, role: m.role, identity: RecordedIdentity(mf), previousDriver: previous(m, oldMember?.previousDriver)
                )
            }
            return PassthroughRecord(
                key: key, identity: RecordedIdentity(f), address: t.address, previousDriver: previous(t, old?.previousDriver),
                driver: t.intendedDriver ?? old?.driver ?? "vfio-pci", group: t.group, members: members)
        }
    }
}
