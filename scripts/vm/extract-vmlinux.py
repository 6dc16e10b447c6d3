"""Unpack a bzImage's compressed kernel into the ELF vmlinux qemu boots directly (PVH),
which saves seconds of self-decompression under emulation. Usage: extract-vmlinux.py IN OUT
(exit status 1 when no ELF kernel is found: the caller then boots the bzImage)."""

import gzip
import lzma
import sys
import zlib

MAGICS = {
    b"\xfd7zXZ\x00": lambda d: lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(d),
    b"\x1f\x8b\x08": lambda d: zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(d),
    b"\x5d\x00\x00": lambda d: lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(d),
}


def main(src: str, dst: str) -> int:
    data = open(src, "rb").read()
    for magic, unpack in MAGICS.items():
        at = data.find(magic)
        while at >= 0:
            try:
                kernel = unpack(data[at:])
            except (lzma.LZMAError, zlib.error, gzip.BadGzipFile, EOFError):
                kernel = b""
            if kernel.startswith(b"\x7fELF"):
                open(dst, "wb").write(kernel)
                return 0
            at = data.find(magic, at + 1)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
