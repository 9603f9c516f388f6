import HWLabelProbe

/// Passthrough readiness of one descriptor, with machine-readable reasons and the commands
/// that would fix what can be fixed.
public struct Readiness: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable, Hashable, CaseIterable {
        case ready
        case readyAfterBinding = "ready-after-binding"
        case notReady = "not-ready"
    }
    public var state: State
    public var reasons: [ReadinessReason]
    /// Shell commands, in order, that would make the device ready where that is possible.
    public var remediation: [String]
    public init(state: State, reasons: [ReadinessReason], remediation: [String]) {
        self.state = state
        self.reasons = reasons
        self.remediation = remediation
    }
}

public struct ReadinessReason: Codable, Sendable, Hashable {
    public enum Severity: String, Codable, Sendable, Hashable {
        /// Passthrough fails until this is fixed.
        case blocker
        /// Fixed by binding the group's endpoints to vfio-pci.
        case binding
        /// Works, but with a known risk (no reset method, unsafe interrupts…).
        case risk
        /// Worth knowing.
        case info
    }
    /// Stable code: a `ReasonCode` raw value (`iommu-off`, `group-not-viable`, …); every one is
    /// listed in docs/labels-readiness-check.md. Reasons are only made from a `ReasonCode`; the
    /// stored form is its raw value so that a document written by a newer hwlabel, with a code
    /// this one does not know, still decodes (`hwlabel diff` reads such documents).
    public private(set) var code: String
    /// The typed code; nil only for a code from a newer hwlabel.
    public var reasonCode: ReasonCode? { ReasonCode(rawValue: code) }
    public var severity: Severity
    public var message: String
    /// Other functions the reason is about (group members, companions), with their drivers.
    public var members: [GroupMember]
    public init(_ code: ReasonCode, severity: Severity, message: String, members: [GroupMember] = []) {
        self.code = code.rawValue
        self.severity = severity
        self.message = message
        self.members = members
    }
}

public struct GroupMember: Codable, Sendable, Hashable {
    public var address: PCIAddress
    @Nullable public var driver: String?
    public init(address: PCIAddress, driver: String?) {
        self.address = address
        self.driver = driver
    }
}
