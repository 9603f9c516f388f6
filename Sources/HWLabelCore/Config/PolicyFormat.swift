import Foundation
import HWLabelProbe

/// `policy.conf`:
/// ```
/// include class=0b40
/// exclude address=0000:00:02.0
/// exclude device=8086:a7a0
/// allowNestedWithPassthrough = false
/// ```
public enum PolicyFormat {
    public static let template = """
        # hwlabel policy. One directive per line, '#' starts a comment.
        #   include class=CC[SS[PP]] | vendor=VVVV | device=VVVV:DDDD | address=DDDD:BB:DD.F
        #   exclude <same selectors>        (exclude wins over include; bridges are never assignable)
        #   allowNestedWithPassthrough = false
        #   vgpu-type <selector> | label="<label>"  <vGPU type name or id>
        #                                   (the type an idle card offers Placement)
        #   vgpu-mixed-size <selector>      (cards put in mixed-size mode with nvidia-smi)
        allowNestedWithPassthrough = false

        """

    public static func parse(_ text: String, path: String) throws(ConfigError) -> Policy {
        var policy = Policy()
        for (i, raw) in try ConfigText.lines(text, path: path).enumerated() {
            let n = i + 1
            let t = raw.trimmed
            if t.isEmpty || t.hasPrefix("#") { continue }
            let words = t.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if words.first == "allowNestedWithPassthrough" || t.hasPrefix("allowNestedWithPassthrough=") {
                let value = t.split(separator: "=", maxSplits: 1).dropFirst().first.map { String($0).trimmed }
                switch value {
                case "true"?: policy.allowNestedWithPassthrough = true
                case "false"?: policy.allowNestedWithPassthrough = false
                default: throw ConfigError(path: path, line: n, message: "allowNestedWithPassthrough must be 'true' or 'false'")
                }
                continue
            }
            if words.first == "vgpu-type" {
                let rest = t.dropFirst("vgpu-type".count).trimmed
                let target: VGPUTypeChoice.Target, typeName: String
                if rest.hasPrefix("label=\"") {
                    let body = rest.dropFirst("label=\"".count)
                    guard let close = body.firstIndex(of: "\"") else {
                        throw ConfigError(path: path, line: n, message: "vgpu-type label=\"…\": the closing quote is missing")
                    }
                    target = .label(String(body[..<close]))
                    typeName = body[body.index(after: close)...].trimmed
                } else {
                    let parts = rest.split(separator: " ", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else {
                        throw ConfigError(path: path, line: n, message: "expected 'vgpu-type <selector> <type name>', got '\(t)'")
                    }
                    do { target = .selector(try DeviceSelector(parsing: parts[0])) } catch {
                        throw ConfigError(path: path, line: n, message: error.description)
                    }
                    typeName = parts[1].trimmed
                }
                guard !typeName.isEmpty else {
                    throw ConfigError(
                        path: path, line: n, message: "vgpu-type names no type (e.g. vgpu-type address=0000:41:00.0 NVIDIA L40S-8Q)")
                }
                policy.vgpuTypes.append(VGPUTypeChoice(target: target, type: typeName))
                continue
            }
            if words.first == "vgpu-mixed-size" {
                guard words.count == 2 else {
                    throw ConfigError(path: path, line: n, message: "expected 'vgpu-mixed-size <selector>', got '\(t)'")
                }
                do { policy.mixedSize.append(try DeviceSelector(parsing: words[1])) } catch {
                    throw ConfigError(path: path, line: n, message: error.description)
                }
                continue
            }
            guard words.count == 2, words[0] == "include" || words[0] == "exclude" else {
                throw ConfigError(
                    path: path, line: n,
                    message:
                        "expected 'include <selector>', 'exclude <selector>', 'vgpu-type <selector> <type>', 'vgpu-mixed-size <selector>' or 'allowNestedWithPassthrough = true|false', got '\(t)'"
                )
            }
            do {
                let sel = try DeviceSelector(parsing: words[1])
                if words[0] == "include" { policy.include.append(sel) } else { policy.exclude.append(sel) }
            } catch { throw ConfigError(path: path, line: n, message: error.description) }
        }
        return policy
    }
}
