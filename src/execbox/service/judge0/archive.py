"""Judge0's ``additional_files``: a base64 zip, unpacked in memory into program files.

Nothing is extracted to disk: each entry becomes a :class:`~execbox.program.SourceFile`
that the engine writes like any other file of a multi-file program (names checked,
no links followed).  The archive is refused, naming the field, when it

- is not base64 or not a zip;
- holds a link (a symlink or anything but a regular file or a folder);
- has a name that is absolute, climbs with ``..`` or is otherwise unsafe (zip slip);
- has more entries than a program may have files;
- unpacks to more bytes than ``max_bytes``, whatever its headers claim (a zip bomb
  is read at most ``max_bytes + 1`` bytes before it is refused).
"""

from __future__ import annotations

import binascii
import io
import stat
import zipfile
from base64 import b64decode

from execbox.errors import InvalidInput
from execbox.program import MAX_FILES, SourceFile, check_names

FIELD = "additional_files"


class ArchiveTooLarge(InvalidInput):
    """The archive unpacks past the allowed size."""


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, field=FIELD)


def unpack(encoded: str, *, max_bytes: int, max_files: int = MAX_FILES) -> list[SourceFile]:
    """The regular files of the base64 zip ``encoded``, in archive order."""
    try:
        data = b64decode(encoded.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise _refuse("is not valid base64") from exc
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _refuse("is not a valid zip archive") from exc
    files: list[SourceFile] = []
    budget = max_bytes
    with archive:
        entries = archive.infolist()
        if len(entries) > max_files * 2:  # folders count too, but not without end
            raise _refuse(f"holds {len(entries)} entries; at most {max_files} files are allowed")
        for info in entries:
            mode = (info.external_attr >> 16) & 0xFFFF
            kind = stat.S_IFMT(mode)
            if info.is_dir():
                continue
            if kind not in (0, stat.S_IFREG):
                raise _refuse(f"entry {info.filename!r} is a link or special file")
            name = info.filename
            try:
                check_names([name], max_files=max_files)  # zip slip: .., absolute, controls
            except InvalidInput as exc:
                raise _refuse(f"entry {name!r} is refused: {exc.message}") from exc
            try:
                with archive.open(info) as member:
                    content = member.read(budget + 1)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as exc:
                raise _refuse(f"entry {name!r} cannot be read: {exc}") from exc
            if len(content) > budget:
                raise ArchiveTooLarge(f"unpacks to more than {max_bytes} bytes", field=FIELD)
            budget -= len(content)
            files.append(SourceFile(name, content))
            if len(files) > max_files:
                raise _refuse(f"holds more than {max_files} files")
    return files
