"""Build the compiled fan-out kernel: ``python -m media.kernel.build`` (run by ``make install``).

cffi's API mode: the C in ``fanout.c`` is compiled against the struct below into
``media/kernel/_fanout*.so`` (git-ignored). It links no libsrtp of its own: the caller hands it
the address of pylibsrtp's ``srtp_protect``, so the SRTP sessions aiortc's DTLS transport created
are the ones used. Exits 0 without building when the shared object is newer than its sources;
exits 1 (and the worker keeps the Python loop) when there is no compiler.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULE = "media.kernel._fanout"

# One peer's outgoing stream as the C loop sees it; written by media.fanout.Outbound.
STRUCT = """
struct kpeer {
    int fd;
    int ready;
    uintptr_t srtp;
    uint32_t ssrc;
    uint32_t seq0;
    uint32_t ts0;
    uint8_t b0;
    uint8_t b1;
    uint8_t mid_id;
    uint8_t mid_len;
    uint8_t level_id;
    uint8_t ast_id;
    uint8_t mid[16];
    uint32_t addrlen;
    uint8_t addr[128];
    uint64_t packets;
    uint64_t octets;
    uint64_t dropped;
};
"""

CDEF = (
    STRUCT
    + """
int fanout_tick(struct kpeer **peers, int n_peers, const uint8_t *payload, int plen, int level,
                uint32_t ast, uint32_t index, uint32_t rtp_ts, uintptr_t protect,
                double *marks, int marks_cap, int mark_every, int *n_marks, int *dropped_out);
int send_same(const int *fds, int n_fds, const uint8_t *data, int len, int *sent);
int send_same_threads(const int *fds, int n_fds, const uint8_t *data, int len, int *sent,
                      int threads);
"""
)


def built() -> list[Path]:
    return sorted(HERE.glob("_fanout*.so"))


def up_to_date() -> bool:
    sources = [HERE / "fanout.c", Path(__file__).resolve()]
    newest = max(p.stat().st_mtime for p in sources)
    return any(so.stat().st_mtime >= newest for so in built())


def build() -> Path:
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        MODULE,
        "#include <stdint.h>\n" + STRUCT + (HERE / "fanout.c").read_text(),
        extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-pthread"],
        extra_link_args=["-pthread"],
    )
    with tempfile.TemporaryDirectory(prefix="fanout-build-") as tmp:
        output = Path(ffi.compile(tmpdir=tmp, verbose=False))
        for old in built():
            old.unlink()
        target = HERE / output.name
        shutil.copy2(output, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    if not args.force and up_to_date():
        print(f"media fan-out kernel up to date: {built()[0].name}")
        return 0
    try:
        target = build()
    except Exception as exc:  # no compiler, no headers: the Python loop stays
        print(f"media fan-out kernel not built ({exc}); the Python loop will be used")
        return 1
    print(f"media fan-out kernel built: {target.relative_to(HERE.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
