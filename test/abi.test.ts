/**
 * abi.test.ts — the C ABI has one definition, csrc/arianna.h, and two mirrors:
 * src/engine/abi.ts (bun:ffi) and trainer/cbridge.py (ctypes). A mirror that
 * drifts from the header calls a function with the wrong argument types, which
 * no other test notices until memory is corrupted. This test reads all three
 * and fails on any difference: every function's return and argument types,
 * the error codes and the model-info keys.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FFIType } from "bun:ffi";
import * as abi from "../src/engine/abi.ts";
import { REPO_ROOT } from "../src/config/paths.ts";

type Kind = "void" | "ptr" | "i32" | "i64" | "u64" | "f32";
interface Signature { returns: Kind; args: Kind[] }

const header = readFileSync(join(REPO_ROOT, "csrc", "arianna.h"), "utf8").replace(/\/\*[\s\S]*?\*\//g, " ");

/** A C type as the ABI passes it. */
function cKind(type: string): Kind {
  const t = type.replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
  if (t.includes("*")) return "ptr";
  const kinds: Record<string, Kind> = { void: "void", int: "i32", int32_t: "i32", int64_t: "i64", uint64_t: "u64", float: "f32" };
  if (!(t in kinds)) throw new Error(`abi.test: no mapping for the C type '${type}'`);
  return kinds[t];
}

/** Every AR_EXPORT function of the header. */
function headerFunctions(): Map<string, Signature> {
  const out = new Map<string, Signature>();
  for (const m of header.matchAll(/AR_EXPORT\s+([^;(]*?)\b(ar_\w+)\s*\(([^)]*)\)\s*;/g)) {
    // the header names every parameter: "const char *path" is a const char *, "int n" an int
    const params = m[3].trim() === "void" ? [] : m[3].split(",").map((p) => p.trim().replace(/\w+$/, ""));
    out.set(m[2], { returns: cKind(m[1]), args: params.map(cKind) });
  }
  return out;
}

/** The header's enums: explicit values, or the previous value + 1. */
function headerEnums(prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const body of header.matchAll(/enum\s*\{([^}]*)\}/g)) {
    let next = 0;
    for (const item of body[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      const [name, value] = item.split("=").map((s) => s.trim());
      const v = value === undefined ? next : Number(value);
      if (name.startsWith(prefix)) out.set(name, v);
      next = v + 1;
    }
  }
  return out;
}

const ffiKinds = new Map<unknown, Kind>([
  [FFIType.void, "void"], [FFIType.ptr, "ptr"], [FFIType.i32, "i32"], [FFIType.i64_fast, "i64"], [FFIType.i64, "i64"],
  [FFIType.u64, "u64"], [FFIType.u64_fast, "u64"], [FFIType.f32, "f32"],
]);
const ffiKind = (t: unknown): Kind => ffiKinds.get(t) ?? (() => { throw new Error(`abi.test: no mapping for FFIType ${String(t)}`); })();

describe("the C ABI and its mirrors", () => {
  const fromHeader = headerFunctions();

  test("the header declares the functions the core exports", () => {
    expect(fromHeader.size).toBeGreaterThan(30);
    expect(fromHeader.get("ar_sampler_config")).toEqual({ returns: "i32", args: ["ptr", "f32", "f32", "i32", "f32", "i32"] });
  });

  test("src/engine/abi.ts mirrors every function of the header, with the same types", () => {
    const fromTs = new Map(Object.entries(abi.symbols).map(([name, s]) => [
      name, { returns: ffiKind(s.returns), args: (s.args as readonly unknown[]).map(ffiKind) },
    ]));
    expect([...fromTs.keys()].sort()).toEqual([...fromHeader.keys()].sort());
    for (const [name, sig] of fromHeader) expect({ name, ...fromTs.get(name) }).toEqual({ name, ...sig });
  });

  test("src/engine/abi.ts has the header's error codes and model-info keys", () => {
    const constants = abi as unknown as Record<string, unknown>;
    for (const prefix of ["AR_OK", "AR_E_", "AR_INFO_"]) {
      const enums = headerEnums(prefix);
      expect(enums.size).toBeGreaterThan(0);
      for (const [name, value] of enums) expect({ name, value: constants[name] }).toEqual({ name, value });
      const mirrored = Object.keys(constants).filter((k) => k.startsWith(prefix));
      expect(mirrored.sort()).toEqual([...enums.keys()].sort());
    }
  });

  const python = join(REPO_ROOT, "trainer", ".venv", "bin", "python");
  test.skipIf(!existsSync(python) && !process.env.CI)("trainer/cbridge.py declares what it calls as the header does", () => {
    const script = `
import ctypes, json, sys
sys.path.insert(0, ${JSON.stringify(join(REPO_ROOT, "trainer"))})
import cbridge
def kind(t):
    if t is None: return "void"
    if t in (ctypes.c_void_p, ctypes.c_char_p) or issubclass(t, ctypes._Pointer): return "ptr"
    for k, ts in (("i32", (ctypes.c_int, ctypes.c_int32)), ("i64", (ctypes.c_int64,)), ("u64", (ctypes.c_uint64,)), ("f32", (ctypes.c_float,))):
        if t in ts: return k
    raise SystemExit("no mapping for " + repr(t))
print(json.dumps({"signatures": {n: {"returns": kind(r), "args": [kind(a) for a in args]} for n, (r, args) in cbridge.SIGNATURES.items()},
                  "info_keys": cbridge.INFO_KEYS}))
`;
    const r = Bun.spawnSync([python, "-c", script], { stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    const py = JSON.parse(r.stdout.toString()) as { signatures: Record<string, Signature>; info_keys: string[] };
    expect(Object.keys(py.signatures).length).toBeGreaterThan(5);
    for (const [name, sig] of Object.entries(py.signatures)) expect({ name, ...sig }).toEqual({ name, ...fromHeader.get(name)! });
    const info = [...headerEnums("AR_INFO_")].sort((a, b) => a[1] - b[1]).map(([n]) => n.slice("AR_INFO_".length).toLowerCase());
    expect(py.info_keys).toEqual(info);
  });
});
