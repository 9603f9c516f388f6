import Foundation
import HWLabelCore
import HWLabelProbe

/// The one seam between the agent service and descriptor building: a scan of the machine.
/// Tests feed descriptors directly; `liveScan` probes the machine.
public typealias DescriptorSource = @Sendable () throws -> ScanResult

public enum DescriptorSources {
    /// Probes `sysfsRoot` (nil: the live machine through libudev + libpci) and turns the
    /// snapshot into descriptors with HWLabelCore's `DescriptorBuilder`, using
    /// `<config-dir>/labels.conf` and `policy.conf` (`LabelStore`). The devices recorded in
    /// `passthrough.conf` are checked for drift (a missing file is no records; one that cannot
    /// be read is passed to `warn` and its records are left out).
    public static func probe(
        sysfsRoot: String?, configDirectory: String,
        warn: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data("hwlabel: warning: \($0)\n".utf8)) }
    ) -> DescriptorSource {
        return {
            let snapshot = try Probe().snapshot(sysfsRoot.map { .sysfs(root: $0) } ?? .live())
            // Labels and policy are re-read on every scan: an edit applies at the next scan.
            let store = LabelStore(directory: configDirectory)
            let (recorded, warning) = PassthroughStore(directory: configDirectory).recordedInstances()
            if let warning { warn(warning) }
            let set = DescriptorBuilder().descriptors(
                snapshot: snapshot, labels: try store.loadLabels(),
                policy: try store.loadPolicy(), recorded: recorded)
            let host = snapshot.host
            // A scanned tree (`sysfsRoot`) carries no identity of its own: the agent still runs
            // on, and names, this host.
            let own = host?.machineID == nil || host?.bootID == nil ? MachineIdentity.read(.system) : nil
            return ScanResult(
                descriptors: set.descriptors,
                excludedAddresses: Set(set.excluded),
                presentAddresses: Set(snapshot.functions.map(\.address)),
                host: HostIdentity(
                    machineId: host?.machineID ?? own?.machineID,
                    hostname: host?.hostname ?? ProcessInfo.processInfo.hostName),
                bootId: host?.bootID ?? own?.bootID)
        }
    }
}
