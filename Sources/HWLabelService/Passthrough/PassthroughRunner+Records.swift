import HWLabelCore
import HWLabelProbe

extension PassthroughRunner {
    /// What a run did to `passthrough.conf`.
    public struct RecordChange: Sendable, Hashable {
        /// Keys recorded (enable) or removed (disable).
        public var recorded: [String] = []
        public var removed: [String] = []
        /// The devices were changed, but the file could not be written: why.
        public var error: String?
        public init(recorded: [String] = [], removed: [String] = [], error: String? = nil) {
            self.recorded = recorded
            self.removed = removed
            self.error = error
        }
    }

    /// `enable` or `disable` with `passthrough.conf`. The records are read before anything is
    /// written: a file that cannot be read or parsed throws, and nothing is written. `disable`
    /// gives each recorded device back to the driver it had before (`previous=`), or lets the
    /// kernel probe its native driver when none is recorded; a target that names a recorded
    /// device no longer present only loses its record. After a successful run (not a dry run),
    /// `enable` records every target and `disable` removes the records of the devices it gave
    /// back.
    public static func run(
        _ verb: Verb, targets: [PassthroughTarget], planner: PassthroughPlanner, options: PassthroughPlanner.Options = .init(),
        dryRun: Bool, executor: PassthroughExecutor, store: PassthroughStore
    ) throws(ConfigError) -> (Report, RecordChange) {
        let doc = try store.load()
        let locator = PassthroughRecordLocator(snapshot: planner.snapshot)
        var targets = targets
        var previous: [PCIAddress: String] = [:]
        var goneKeys: [String] = []
        if verb == .disable {
            for r in doc.records {
                switch locator.locate(r) {
                case .present(let a): previous.merge(locator.previousDrivers(r, at: a)) { $1 }
                case .absent where targets.contains(.instance(r.key)):
                    targets.removeAll { $0 == .instance(r.key) }
                    goneKeys.append(r.key)
                case .absent, .drift: break
                }
            }
        }
        var report = run(verb, targets: targets, planner: planner, options: options, previous: previous, dryRun: dryRun, executor: executor)
        if targets.isEmpty && !goneKeys.isEmpty {
            report =
                dryRun
                ? .dryRun(PassthroughPlan(functions: []), []) : .ran(PassthroughPlan(functions: []), .init(functions: [], succeeded: true))
        }
        guard case .ran(let plan, let result) = report, result.succeeded else {
            return (report, RecordChange(removed: dryRun ? goneKeys : []))
        }
        var change = RecordChange()
        do {
            try store.update { d in
                switch verb {
                case .enable:
                    for r in locator.records(enabledBy: plan, existing: d.records) {
                        d.upsert(r)
                        change.recorded.append(r.key)
                    }
                case .disable:
                    let given = Set(plan.functions.filter { $0.role == .target }.map(\.address))
                    let keys = d.records.filter { r in
                        switch locator.locate(r) {
                        case .present(let a), .drift(let a, _): given.contains(a)
                        case .absent: goneKeys.contains(r.key)
                        }
                    }.map(\.key)
                    d.remove(keys: Set(keys))
                    change.removed = keys
                }
            }
        } catch {
            change.error = "\(error); the devices were changed, but \(store.path) was not"
        }
        return (report, change)
    }
}
