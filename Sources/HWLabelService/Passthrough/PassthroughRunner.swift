import HWLabelCore
import HWLabelProbe

/// `hwlabel passthrough enable|disable` from facts to host writes: plan (pure), then either
/// the refusals (nothing written), the operations a dry run would perform (nothing written),
/// or the executor's result.
public enum PassthroughRunner {
    public enum Verb: String, Sendable { case enable, disable }

    public enum Report: Sendable, Hashable {
        case refused([PassthroughRefusal])
        /// `--dry-run`: the plan and what would be written, in order.
        case dryRun(PassthroughPlan, [PassthroughOperation])
        case ran(PassthroughPlan, PassthroughExecutor.Result)
    }

    public static func run(
        _ verb: Verb, targets: [PassthroughTarget], planner: PassthroughPlanner,
        options: PassthroughPlanner.Options = .init(), previous: [PCIAddress: String] = [:],
        dryRun: Bool, executor: PassthroughExecutor
    ) -> Report {
        let decision = verb == .enable ? planner.enable(targets, options: options) : planner.disable(targets, previous: previous)
        switch decision {
        case .refused(let r):
            return .refused(r)
        case .plan(let plan):
            if dryRun { return .dryRun(plan, PassthroughExecutor.operations(for: plan, reading: executor.host)) }
            return .ran(plan, executor.run(plan))
        }
    }
}
