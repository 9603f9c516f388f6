/// Indents compact JSON (`CanonicalJSON`'s bytes) in one linear pass: two spaces, `"key" : value`,
/// as JSONEncoder's `.prettyPrinted` writes it. Input must be valid compact JSON.
public enum PrettyJSON {
    /// How an empty array or object is written.
    public enum EmptyContainers: Sendable {
        /// `[]` and `{}`: the inventory and `list` documents.
        case inline
        /// The brackets on their own lines with a blank line between (`[\n\n  ]`), as
        /// JSONEncoder's `.prettyPrinted` writes them: the report file and `status.json`.
        case blankLine
    }

    public static func format(_ json: [UInt8], emptyContainers: EmptyContainers = .inline) -> [UInt8] {
        var out: [UInt8] = []
        format(json, depth: 0, emptyContainers: emptyContainers, into: &out)
        return out
    }

    /// Appends `json` indented as if it started at nesting `depth`; a comma at that level starts
    /// a new line there, so a run of array elements `a,b` formats as they would inside the array.
    public static func format(
        _ json: [UInt8], depth startDepth: Int, emptyContainers: EmptyContainers = .inline,
        into out: inout [UInt8]
    ) {
        out.reserveCapacity(out.count + json.count * 2)
        var depth = startDepth
        json.withUnsafeBufferPointer { json in
            let n = json.count
            func newline(_ out: inout [UInt8]) {
                out.append(0x0a)
                for _ in 0..<depth { out.append(0x20); out.append(0x20) }
            }
            var i = 0
            while i < n {
                let c = json[i]
                switch c {
                case 0x22: // a string: copy it through its closing quote in one append
                    var j = i + 1
                    while j < n {
                        let d = json[j]
                        if d == 0x5c { j += 2; continue }
                        if d == 0x22 { break }
                        j += 1
                    }
                    j = min(j, n - 1)
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: json[i...j]))
                    i = j
                case 0x7b, 0x5b: // { [
                    out.append(c)
                    let close: UInt8 = c == 0x7b ? 0x7d : 0x5d
                    if i + 1 < n, json[i + 1] == close {
                        if emptyContainers == .blankLine {
                            out.append(0x0a)
                            newline(&out)
                        }
                        out.append(close)
                        i += 1
                    } else {
                        depth += 1
                        newline(&out)
                    }
                case 0x7d, 0x5d: // } ]
                    depth -= 1
                    newline(&out)
                    out.append(c)
                case 0x2c: // ,
                    out.append(c)
                    newline(&out)
                case 0x3a: // :
                    out.append(0x20); out.append(0x3a); out.append(0x20)
                default:
                    out.append(c)
                }
                i += 1
            }
        }
    }
}
