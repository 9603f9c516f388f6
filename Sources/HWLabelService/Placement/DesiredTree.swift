import Foundation
import HWLabelCore

/// The host's root provider and the desired children under it.
public struct DesiredTree: Sendable, Hashable {
    /// The root provider's name (the host name; Nova's compute node has the same one).
    public var rootName: String
    /// Parents before their children (PFs before their VFs), then by name.
    public var providers: [DesiredProvider]
    /// Devices that could not be mirrored, or were mirrored without some capacity, with why
    /// (no usable name, an idle vGPU card with no chosen type, …).
    public var skipped: [String]
    public init(rootName: String, providers: [DesiredProvider], skipped: [String] = []) {
        self.rootName = rootName
        self.providers = providers
        self.skipped = skipped
    }
}
