import HWLabelProbe

/// Answers "can this host take this VM now?" over the descriptors. Pure.
///
/// Only what the host can deliver counts:
/// - A `--device` part is served by descriptors offered for passthrough (`whole-device` or
///   `sriov-vf`) that match (label or attribute tuple) and are `ready` or `ready-after-binding`
///   (in-use, dead and otherwise blocked devices are `not-ready`). Each device serves one slot;
///   slots are assigned by maximum bipartite matching over candidates ranked ready now, then
///   ready after binding only unbound or vfio functions, then after taking functions from host
///   drivers; unknown usage ranks after known-free. No two served devices exclude each other.
/// - A vGPU part is served by cards in `vgpu` mode: each card runs one type at a time (unless
///   declared mixed-size), so one request never gets two types on one card, and counts never
///   pass what the card has left.
public struct CompatibilityChecker: Sendable {
    public init() {}

    /// Three stages, in order: passthrough parts take devices first, vGPU parts take cards
    /// passthrough left, then the nested part judges the host and the policy.
    public func check(_ request: CheckRequest, descriptors set: DescriptorSet, snapshot: Snapshot, policy: Policy) -> CheckResult {
        let ds = set.descriptors
        let devices = matchDevices(request, ds)
        let vgpu = placeVGPU(request, ds, usedForPassthrough: devices.used)
        let hostNested = snapshot.host?.nestedVirtualization
        let nested = request.nested ? nestedPart(request, hostNested: hostNested, policy: policy) : nil
        let parts = devices.parts + vgpu.parts + (nested.map { [$0.0] } ?? [])
        return CheckResult(
            fits: parts.allSatisfy(\.satisfied), nestedRequested: request.nested,
            hostNestedVirtualization: hostNested, refusal: nested?.1, parts: parts,
            devices: Self.distinct(devices.serving + vgpu.serving),
            bindingCommands: ReadinessEvaluator.bindingCommands(for: devices.toBind))
    }

    /// Each device once per vGPU type (a card serving two parts with one type is listed once),
    /// by address then type.
    static func distinct(_ serving: [ServingDevice]) -> [ServingDevice] {
        var seen = Set<String>()
        return serving.filter { seen.insert("\($0.address)|\($0.vgpuType ?? "")").inserted }
            .sorted { ($0.address, $0.vgpuType ?? "") < ($1.address, $1.vgpuType ?? "") }
    }

    // MARK: - Passthrough parts

    /// Lower is better: ready now; after binding only unbound/vfio functions; after taking
    /// functions from host drivers. Unknown usage after known-free within each tier.
    static func rank(_ d: AssignableDevice) -> Int {
        var r: Int
        switch d.readiness.state {
        case .ready: r = 0
        case .readyAfterBinding:
            let takesFromHost = d.readiness.reasons.contains { reason in
                reason.severity == .binding
                    && reason.members.contains { m in
                        m.driver.map { !VGPUCapacity.isVFIODriver($0) } ?? false
                    }
            }
            r = takesFromHost ? 4 : 2
        case .notReady: r = 8
        }
        if d.usage.state == .unknown { r += 1 }
        return r
    }

    struct DeviceMatch {
        var serving: [ServingDevice] = []
        var parts: [PartResult] = []
        var used: Set<Int> = []
        var toBind: [PCIAddress] = []
    }

    typealias Slot = (part: Int, candidates: [Int])

    func matchDevices(_ request: CheckRequest, _ ds: [AssignableDevice]) -> DeviceMatch {
        let slots = Self.slots(request, ds)
        let owner = Self.assign(slots, ds)
        var out = DeviceMatch()
        out.used = Set(owner.keys)
        for (p, req) in request.devices.enumerated() {
            let got = owner.filter { slots[$0.value].part == p }.map(\.key).sorted { ds[$0].address < ds[$1].address }
            devicePart(req, got: got, ds, into: &out)
        }
        return out
    }

    /// One slot per requested device, each with its candidates best first: offered for
    /// passthrough, not `not-ready`, matching the part.
    static func slots(_ request: CheckRequest, _ ds: [AssignableDevice]) -> [Slot] {
        var slots: [Slot] = []
        for (p, req) in request.devices.enumerated() {
            let cands = ds.indices.filter {
                ds[$0].mode.offersPassthrough && ds[$0].readiness.state != .notReady && req.matches(ds[$0])
            }.sorted { (rank(ds[$0]), ds[$0].address) < (rank(ds[$1]), ds[$1].address) }
            for _ in 0..<max(req.count, 0) { slots.append((p, cands)) }
        }
        return slots
    }

    /// Maximum bipartite matching of slots to descriptors (augmenting paths, slots in order, so
    /// earlier parts and better-ranked candidates win ties); a descriptor that another taken one
    /// excludes, or that excludes it, is never taken. Descriptor index → slot index.
    static func assign(_ slots: [Slot], _ ds: [AssignableDevice]) -> [Int: Int] {
        var owner: [Int: Int] = [:]
        let excludes = ds.map { Set($0.excludes) }
        func conflicts(_ d: Int) -> Bool {
            owner.keys.contains { e in e != d && (excludes[e].contains(ds[d].address) || excludes[d].contains(ds[e].address)) }
        }
        func augment(_ s: Int, _ seen: inout Set<Int>) -> Bool {
            for d in slots[s].candidates where !seen.contains(d) {
                seen.insert(d)
                if owner[d] == nil && conflicts(d) { continue }
                if owner[d] == nil || augment(owner[d]!, &seen) {
                    owner[d] = s
                    return true
                }
            }
            return false
        }
        for s in slots.indices {
            var seen = Set<Int>()
            _ = augment(s, &seen)
        }
        return owner
    }

    /// One passthrough part's result: the devices it got, what to bind for them, and why it
    /// fell short.
    func devicePart(_ req: DeviceRequest, got: [Int], _ ds: [AssignableDevice], into out: inout DeviceMatch) {
        var unmet: [String] = []
        if got.count < req.count { unmet = whyUnmet(req, got: got.count, ds) }
        for i in got {
            let d = ds[i]
            out.serving.append(
                ServingDevice(
                    address: d.address, instance: d.instance.id, serves: req.description,
                    label: d.label?.name, readiness: d.readiness.state, companions: d.companions, vgpuType: nil))
            if d.readiness.state == .readyAfterBinding {
                out.toBind += [d.address] + d.readiness.reasons.filter { $0.severity == .binding }.flatMap { $0.members.map(\.address) }
            }
        }
        out.parts.append(
            PartResult(
                kind: "devices", request: req.description, satisfied: got.count >= req.count,
                devices: got.map { ds[$0].address }, unmet: unmet))
    }

    func whyUnmet(_ req: DeviceRequest, got: Int, _ ds: [AssignableDevice]) -> [String] {
        let matching = ds.filter { req.matches($0) }
        if matching.isEmpty {
            return ["no device matching \(req.what) on this host" + (req.label != nil ? " (no present device carries that label)" : "")]
        }
        var unmet: [String] = []
        for d in matching {
            switch d.mode {
            case .sriovPF:
                unmet.append("\(d.address) matches but is offered as its \(d.excludes.count) SR-IOV VFs, not whole (mode sriov-pf)")
            case .vgpu:
                unmet.append("\(d.address) matches but serves vGPU (mode vgpu): request one of its vGPU profiles")
            case .vgpuVF:
                unmet.append("\(d.address) matches but is a vGPU slot of \(d.parent.map { "\($0)" } ?? "its card") (mode vgpu-vf)")
            case .wholeDevice, .sriovVF:
                guard d.readiness.state == .notReady else { continue }
                let blockers = d.readiness.reasons.filter { $0.severity == .blocker }
                unmet.append(
                    "\(d.address) matches but is not ready: " + blockers.map { "\($0.code): \($0.message)" }.joined(separator: "; "))
            }
        }
        let usable = matching.filter { $0.mode.offersPassthrough && $0.readiness.state != .notReady }.count
        unmet.append(
            "\(got) of \(req.count) requested available (\(matching.count) matching, \(usable) offered for passthrough and ready or ready after binding, others taken by other parts of the request)"
        )
        return unmet
    }

    // MARK: - vGPU parts

    struct VGPUPlacement {
        var serving: [ServingDevice] = []
        var parts: [PartResult] = []
    }

    /// What this request has taken of each card so far.
    struct CardUse {
        /// card → type id → instances left for this request
        var left: [Int: [String: Int]] = [:]
        /// card → the type this request put on it
        var typeOnCard: [Int: String] = [:]
    }

    func placeVGPU(_ request: CheckRequest, _ ds: [AssignableDevice], usedForPassthrough: Set<Int>) -> VGPUPlacement {
        var out = VGPUPlacement()
        var use = CardUse()
        for req in request.vgpu {
            var got: [(Int, String)] = []
            for i in Self.cards(for: req, ds, usedForPassthrough: usedForPassthrough) where got.count < req.count {
                Self.take(req, card: i, ds[i].vgpu!, use: &use, got: &got)
            }
            vgpuPart(req, got: got, ds, typeOnCard: use.typeOnCard, into: &out)
        }
        return out
    }

    /// One vGPU part's result: the instances it got, card by card, and why it fell short.
    func vgpuPart(
        _ req: VGPURequest, got: [(Int, String)], _ ds: [AssignableDevice], typeOnCard: [Int: String],
        into out: inout VGPUPlacement
    ) {
        var unmet: [String] = []
        if got.count < req.count { unmet = whyUnmetVGPU(req, got: got.count, ds, typeOnCard: typeOnCard) }
        for (i, type) in got {
            out.serving.append(
                ServingDevice(
                    address: ds[i].address, instance: ds[i].instance.id, serves: req.description,
                    label: ds[i].label?.name, readiness: ds[i].readiness.state, companions: [], vgpuType: type))
        }
        out.parts.append(
            PartResult(
                kind: "vgpu", request: req.description, satisfied: got.count >= req.count,
                devices: got.map { ds[$0.0].address }, unmet: unmet))
    }

    /// Cards in `vgpu` mode, not `not-ready`, not taken for passthrough, offering the profile:
    /// those already running its type first (they can take no other), then the most room.
    static func cards(for req: VGPURequest, _ ds: [AssignableDevice], usedForPassthrough: Set<Int>) -> [Int] {
        ds.indices.filter { i in
            ds[i].mode == .vgpu && ds[i].readiness.state != .notReady && !usedForPassthrough.contains(i)
                && ds[i].vgpu?.profile(named: req.profile) != nil
        }.sorted { a, b in
            let pa = ds[a].vgpu!.profile(named: req.profile)!, pb = ds[b].vgpu!.profile(named: req.profile)!
            let ra = ds[a].vgpu!.activeType == pa.id ? 0 : 1, rb = ds[b].vgpu!.activeType == pb.id ? 0 : 1
            return (ra, -pa.available, ds[a].address) < (rb, -pb.available, ds[b].address)
        }
    }

    /// Takes as many instances of the profile from one card as it has left, unless the card
    /// runs one type at a time and this request already put another type on it.
    static func take(_ req: VGPURequest, card i: Int, _ offer: VGPUOffer, use: inout CardUse, got: inout [(Int, String)]) {
        let p = offer.profile(named: req.profile)!
        if !offer.mixedSize, let t = use.typeOnCard[i], t != p.id { return }
        var remaining = use.left[i]?[p.id] ?? p.available
        while remaining > 0 && got.count < req.count {
            remaining -= 1
            got.append((i, p.id))
            use.typeOnCard[i] = p.id
        }
        use.left[i, default: [:]][p.id] = remaining
        if offer.mixedSize { shareFramebuffer(card: i, offer, took: p, got: got, use: &use) }
    }

    /// On a mixed-size card the other types share the framebuffer this one took: each is
    /// bounded by what memory is left.
    static func shareFramebuffer(card i: Int, _ offer: VGPUOffer, took p: VGPUProfile, got: [(Int, String)], use: inout CardUse) {
        guard let fb = p.framebuffer?.value, let mem = offer.framebuffer?.value else { return }
        for q in offer.profiles where q.id != p.id {
            guard let qfb = q.framebuffer?.value, qfb > 0 else { continue }
            let taken = UInt64(got.filter { $0.0 == i }.count) * fb
            let bound = mem > taken ? Int((mem - taken) / qfb) : 0
            use.left[i, default: [:]][q.id] = min(use.left[i]?[q.id] ?? q.available, bound)
        }
    }

    func whyUnmetVGPU(_ req: VGPURequest, got: Int, _ ds: [AssignableDevice], typeOnCard: [Int: String]) -> [String] {
        let offering = ds.indices.filter { ds[$0].vgpu?.profile(named: req.profile) != nil }
        if offering.isEmpty { return ["no GPU on this host offers vGPU profile \"\(req.profile)\""] }
        var unmet: [String] = []
        for i in offering {
            let d = ds[i], offer = d.vgpu!, p = offer.profile(named: req.profile)!
            if d.readiness.state == .notReady {
                unmet.append(
                    "\(d.address) is not ready: "
                        + d.readiness.reasons.filter { $0.severity == .blocker }.map(\.message).joined(separator: "; "))
            } else if !offer.mixedSize, let t = typeOnCard[i], t != p.id {
                unmet.append(
                    "\(d.address) already serves \(offer.profile(named: t)?.name ?? t) in this request: time-sliced vGPU runs one type per GPU"
                )
            } else {
                unmet.append("\(d.address) \(p.name): \(p.available) available (\(p.basis))")
            }
        }
        unmet.append("\(got) of \(req.count) requested instances available")
        return unmet
    }

    // MARK: - Nested virtualization

    func nestedPart(_ request: CheckRequest, hostNested: Bool?, policy: Policy) -> (PartResult, NestedRefusal?) {
        var unmet: [String] = []
        var refusal: NestedRefusal?
        let wantsDevices = !request.devices.isEmpty || !request.vgpu.isEmpty
        if wantsDevices && !policy.allowNestedWithPassthrough {
            refusal = NestedRefusal()
            unmet.append(NestedRefusal.message)
        }
        switch hostNested {
        case true?: break
        case false?:
            unmet.append(
                "nested virtualization is off on this host: modprobe -r kvm_intel && modprobe kvm_intel nested=1 (kvm_amd on AMD), persist with 'options kvm_intel nested=1' in /etc/modprobe.d/"
            )
        case nil:
            unmet.append("the host's nested-virtualization state is unknown (no /sys/module/kvm_*/parameters/nested in this snapshot)")
        }
        return (
            PartResult(kind: "nested", request: "nested hardware virtualization", satisfied: unmet.isEmpty, devices: [], unmet: unmet),
            refusal
        )
    }
}
