import ArgumentParser
import Foundation
import HWLabelService
import HWLabelCore
import HWLabelProbe

/// What the inventory, list, show, label and check commands share: the label store, labels and
/// policy loaded and descriptors built for a source, input errors mapped to exit code 2,
/// `--format json` output and diagnostics on stderr.
enum CommandSupport {
    static func store(_ source: SourceOptions) -> LabelStore { LabelStore(directory: source.configDir) }

    /// Values a one-shot command is done with but leaves to the process's exit: handing a
    /// 10,000-function snapshot and its descriptors back to the allocator piece by piece takes
    /// tens of milliseconds, where exit returns the whole address space at once.
    nonisolated(unsafe) private static var keptUntilExit: [Any] = []
    static func keepUntilExit(_ value: Any) { keptUntilExit.append(value) }

    /// Runs `body`, turning input errors (corrupt files, bad labels) into exit 2.
    static func inputErrors<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ConfigError {
            Diagnostics.error(e.description + (e.line != nil ? " (file left untouched)" : ""))
            throw ExitCode(2)
        } catch let e as LabelError {
            Diagnostics.error(e.description)
            throw ExitCode(2)
        } catch let e as RuleConflict {
            printDiagnostics(e.diagnostics)
            Diagnostics.error("rule not saved; narrow it (--device, --subsystem) or remove the other rule, or pass --force")
            throw ExitCode(2)
        }
    }

    static func descriptors(_ source: SourceOptions) throws -> (Snapshot, LabelSet, Policy, DescriptorSet) {
        let st = store(source)
        let (labels, policy) = try inputErrors { (try st.loadLabels(), try st.loadPolicy()) }
        let snapshot = try source.snapshot()
        // Devices recorded by `hwlabel passthrough enable`, checked for drift like labels.
        let (recorded, warning) = PassthroughStore(directory: source.configDir).recordedInstances()
        if let warning { FileStandardError.write("hwlabel: warning: \(warning)\n") }
        let set = DescriptorBuilder().descriptors(snapshot: snapshot, labels: labels, policy: policy, recorded: recorded)
        return (snapshot, labels, policy, set)
    }

    /// `--format json` output: the canonical bytes indented, with a final newline.
    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: PrettyJSON.format(try CanonicalJSON.encode(value), emptyContainers: .blankLine), as: UTF8.self) + "\n"
    }

    static func printDiagnostics(_ ds: [Diagnostic]) {
        for d in ds { FileStandardError.write("hwlabel: \(d.severity.rawValue): \(d.message)\n") }
    }

    static func rule(vendor: String, device: String?, subsystem: String?, classPrefix: String?, label: String) throws -> LabelRule {
        try inputErrors {
            let l = try HardwareLabel(validating: label)
            let sub = try subsystem.map { (s) throws(LabelError) in try LabelRule.splitSubsystem(s) }
            return try LabelRule(
                vendor: vendor, device: device, subsystemVendor: sub?.0, subsystemDevice: sub?.1,
                classPrefix: classPrefix, label: l)
        }
    }
}
