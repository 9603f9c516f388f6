import Foundation

/// Modes for files and directories the agent creates, from the process umask.
public enum FileCreationMode {
    /// `0666 & ~umask`.
    public static func regular(umask: mode_t = FileCreationMode.umask) -> mode_t { 0o666 & ~umask }

    /// The process umask, read once from `/proc/self/status` (`Umask:`, Linux 4.7+) so that no
    /// thread has to set it to learn it; 0022 when that line cannot be read.
    public static let umask: mode_t = current(statusText: try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? 0o022

    /// The `Umask:` value of a `/proc/<pid>/status` text (octal), nil when there is none.
    public static func current(statusText: String?) -> mode_t? {
        guard let text = statusText else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Umask:") {
            let v = line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces)
            guard !v.isEmpty, v.utf8.count <= 4, let m = mode_t(v, radix: 8), m <= 0o777 else { return nil }
            return m
        }
        return nil
    }
}
