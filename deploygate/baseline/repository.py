"""Reading the base ref from git objects: the base manifest and the model's files (and the
files it names, such as ONNX external data) into a private temporary folder, Git LFS pointers
smudged when git-lfs is installed. Nothing checks out, touches the working tree or index, or
runs repository hooks.

git runs only as short plumbing commands (``rev-parse``, ``ls-tree``, ``cat-file blob``), each
in its own process group with a deadline (the sooner of :data:`GIT_TIMEOUT_S` and what is left
of the check's time budget), killed with its group past it, and with its output capped before
it is kept: blobs stream straight to the private folder and must be exactly as long as the tree
says."""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from deploygate.artifacts import formats
from deploygate.children import NEW_SESSION, kill_group
from deploygate.errors import BaselineError
from deploygate.manifest.model import Manifest, ModelSpec
from deploygate.scratch import private_folder

from deploygate.baseline.compare import BaselineComparison
from deploygate.baseline.refs import RefChoice, check_ref_text


GIT_TIMEOUT_S = 60
"""Every git command is killed (with its process group) past this, or sooner when the check's
time budget ends first: a ref from the manifest could make git search history for as long as a
regex backtracks, and a broken object store can make any read hang."""


MAX_GIT_OUTPUT_BYTES = 64 << 20
"""Output kept from one listing command (rev-parse, ls-tree, diff, ls-files); past it the
command is killed. Blob contents are not kept: they stream to disk at the size the tree records."""


MAX_BASE_FOLDER_FILES = 1_000
"""Files of a folder model read from the base (shards, index, config): each is one `git
cat-file`, so a base folder of a million shards is refused, not read for half an hour. The
largest public sharded checkpoints hold under 200 shards."""


MAX_GIT_STDERR_BYTES = 4096
"""Bytes of git's stderr kept to explain a failure."""


LFS_SMUDGE_TIMEOUT_S = 600.0
"""A smudge may download the object; a stuck download must not hang the pipeline (cut further
to what is left of the check's time budget)."""


CHUNK_BYTES = 1 << 20
"""Blobs are streamed to disk in pieces this big, never held whole in memory."""


_LINK_MODE = 0o120000
_TREE_MODE = 0o040000


@dataclass(frozen=True)
class _Entry:
    """One entry of a git tree, as ``git ls-tree --long`` lists it."""

    mode: int
    """File mode (``0o100644``, ``0o120000`` for a link, ``0o040000`` for a tree)."""
    type: str
    """``blob``, ``tree`` or ``commit`` (a submodule)."""
    oid: str
    """Object id."""
    size: int
    """Bytes of a blob; 0 for anything else."""
    name: str
    """Its path relative to the tree it was listed from."""


class _Git:
    """Runs git in one repository: each command in its own process group, with a deadline and
    capped output; the group is killed when the deadline passes, whatever git is doing."""

    def __init__(self, executable: str, root: Path, deadline: float | None) -> None:
        self.executable, self.root, self.deadline = executable, root, deadline

    def time_left(self, limit: float, what: str) -> float:
        """Seconds ``what`` may run: ``limit``, cut to what is left of the check's budget."""
        left = limit if self.deadline is None else min(limit, self.deadline - time.monotonic())
        if left <= 0:
            raise BaselineError(f"the check's time budget was spent before `{what}` could run")
        return left

    def run(self, *args: str, ok: tuple[int, ...] = (0,), sink: IO[bytes] | None = None,
            cap: int = MAX_GIT_OUTPUT_BYTES, head: bool = False) -> tuple[int, bytes]:
        """Run ``git args``; its exit status and stdout (or stdout written to ``sink``, at most
        ``cap`` bytes). BaselineError past the deadline or the cap, or on a status not in
        ``ok``; with ``head``, reaching the cap ends the command instead (its first ``cap``
        bytes are what was wanted)."""
        what = f"git {args[0]}"
        timeout = self.time_left(GIT_TIMEOUT_S, what)
        # --literal-pathspecs: paths from the manifest are names, never patterns; no pager,
        # no prompt for credentials, no fsmonitor hook for a read of objects.
        command = [self.executable, "--no-pager", "--literal-pathspecs", "-c",
                   "core.fsmonitor=false", *args]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
        try:
            return _bounded(command, what, cwd=self.root, env=env, timeout=timeout, ok=ok,
                            sink=sink, cap=cap, head=head)
        except BaselineError as e:
            raise self.budget_said(e) from e

    def budget_said(self, error: BaselineError) -> BaselineError:
        """``error``, saying so when it happened because the check's time budget ended."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return BaselineError(f"{error} when the check's time budget ended")
        return error

    def text(self, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
        """``run`` with stdout decoded (git prints paths as bytes; undecodable ones escaped)."""
        code, out = self.run(*args, ok=ok)
        return code, out.decode("utf-8", "surrogateescape")

    def lookup(self, treeish: str, path: str) -> _Entry | None:
        """The entry at ``path`` in ``treeish`` (a commit or tree id); None when absent."""
        _, out = self.run("ls-tree", "-z", "--long", "--full-tree", treeish, "--", path)
        for entry in _parse_tree(out):
            if entry.name == path:
                return entry
        return None

    def children(self, tree: _Entry) -> list[_Entry]:
        """The entries directly inside ``tree``."""
        _, out = self.run("ls-tree", "-z", "--long", "--full-tree", tree.oid)
        return _parse_tree(out)

    def blob(self, entry: _Entry, out: IO[bytes], display: str) -> None:
        """Stream ``entry``'s content to ``out``; it must be exactly ``entry.size`` bytes."""
        written_before = out.tell()
        self.run("cat-file", "blob", entry.oid, sink=out, cap=entry.size)
        if out.tell() - written_before != entry.size:
            raise BaselineError(f"{display}: git returned {out.tell() - written_before} bytes "
                                f"for a blob of {entry.size}; the object store is damaged")

    def blob_head(self, entry: _Entry, out: IO[bytes], limit: int) -> None:
        """Stream the first ``limit`` bytes of ``entry`` to ``out``, then stop git."""
        self.run("cat-file", "blob", entry.oid, sink=out, cap=limit, head=True)
        if out.tell() != limit:
            raise BaselineError(f"git returned {out.tell()} bytes of a blob of {entry.size}; "
                                "the object store is damaged")

    def blob_bytes(self, entry: _Entry) -> bytes:
        """A small blob's content, read in memory (callers check ``entry.size`` first)."""
        _, out = self.run("cat-file", "blob", entry.oid, cap=entry.size)
        return out


def _parse_tree(out: bytes) -> list[_Entry]:
    """``git ls-tree -z --long`` output as entries."""
    found = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        fields = meta.split()
        if len(fields) != 4:
            raise BaselineError(f"unexpected `git ls-tree` output {record[:80]!r}")
        mode, kind, oid, size = fields
        text = name.decode("utf-8", "surrogateescape")
        if size != b"-" and not size.isdigit():
            # git prints BAD where it cannot read the object to size it
            raise BaselineError(f"git cannot read the object of {text!r} ({oid.decode('ascii')}) "
                                "in the base: the clone lacks it (damaged, or a partial clone); "
                                "fetch the base again")
        found.append(_Entry(int(mode, 8), kind.decode("ascii"), oid.decode("ascii"),
                            int(size) if size != b"-" else 0, text))
    return found


def _bounded(command: list[str], what: str, *, cwd: Path, env: dict[str, str], timeout: float,
             ok: tuple[int, ...], sink: IO[bytes] | None, cap: int,
             stdin: bytes | None = None, head: bool = False) -> tuple[int, bytes]:
    """Run ``command`` in its own process group; kill the group at ``timeout`` or when stdout
    passes ``cap`` bytes (with ``head``: keep its first ``cap`` bytes, kill it, and count that
    as done). Returns the exit status and stdout (empty when written to ``sink``)."""
    try:
        proc = subprocess.Popen(command, cwd=str(cwd), env=env, close_fds=True,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=NEW_SESSION)
    except OSError as e:
        raise BaselineError(f"cannot run `{what}` ({type(e).__name__}: {e.strerror or e})") from e
    kept: list[bytes] = []
    errors: list[bytes] = []
    over, enough = threading.Event(), threading.Event()

    def read_stdout() -> None:
        assert proc.stdout is not None
        total = 0
        while chunk := proc.stdout.read1(CHUNK_BYTES):  # type: ignore[attr-defined]
            total += len(chunk)
            if head and total >= cap:
                chunk = chunk[:len(chunk) - (total - cap)]  # the first ``cap`` bytes: done
                enough.set()
            elif total > cap:
                over.set()
                kill_group(proc)
                break
            if sink is not None:
                sink.write(chunk)
            else:
                kept.append(chunk)
            if enough.is_set():
                kill_group(proc)
                break

    def read_stderr() -> None:
        assert proc.stderr is not None
        while chunk := proc.stderr.read(4096):
            if sum(map(len, errors)) < MAX_GIT_STDERR_BYTES:
                errors.append(chunk)

    def write_stdin() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin or b"")
            proc.stdin.close()
        except OSError:
            pass  # it ended before reading; its status says why

    threads = [threading.Thread(target=read_stdout, daemon=True),
               threading.Thread(target=read_stderr, daemon=True)]
    if stdin is not None:
        threads.append(threading.Thread(target=write_stdin, daemon=True))
    for t in threads:
        t.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        # The whole group: helpers git started (a credential helper, a filter) die with it.
        kill_group(proc)
        proc.wait()
        for t in threads:
            t.join(timeout=5)
    if timed_out:
        raise BaselineError(f"`{what}` took longer than {timeout:.3g} s and was killed")
    if over.is_set():
        raise BaselineError(f"`{what}` wrote more than {cap} bytes; refused")
    if proc.returncode not in ok and not enough.is_set():
        cause = b"".join(errors).decode("utf-8", "replace").strip().splitlines()
        raise BaselineError(f"`{what}` failed (exit status {proc.returncode}"
                            f"{': ' + cause[0][:200] if cause else ''})")
    return proc.returncode, b"".join(kept)


@dataclass(frozen=True)
class ResolvedRef:
    """A ref resolved to a commit."""

    ref: str
    """The ref that resolved (``RefChoice.ref`` or one of its fallbacks)."""
    commit: str
    """Full commit id."""
    source: str
    """Where the ref came from (see ``RefChoice.source``)."""

    @property
    def short(self) -> str:
        """Abbreviated commit id for messages."""
        return self.commit[:10]


@dataclass(frozen=True)
class BaseEntry:
    """A model as the base manifest declares it."""

    name: str
    """The model's name."""
    path: str
    """Repository-relative POSIX path of its file or folder."""
    format: str | None = None
    """Its declared format, if any."""
    allow_globals: tuple[str, ...] = ()
    """The pickle globals its ``security.allow_globals`` accepted."""


@dataclass(frozen=True)
class BaseFiles:
    """The base version of an artifact, written into the private temporary folder."""

    path: Path
    """The artifact (file or folder) inside the temporary folder."""
    display: str
    """How messages name it: ``<ref>:<repository path>``."""
    repo_path: str
    """Repository-relative path in the base commit."""
    pointers: tuple[str, ...] = ()
    """Files left as Git LFS pointers (git-lfs missing or the object unavailable)."""
    size_bytes: int = 0
    """Bytes of its model files, LFS pointers counted at the size they record."""
    pointer_reason: str | None = None
    """Why pointers were left as they are (git-lfs missing, or the smudge failed)."""


@contextmanager
def _reading(what: str) -> Iterator[None]:
    """Turn file-system failures while reading the base into BaselineError."""
    try:
        yield
    except (OSError, ValueError) as e:
        cause = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise BaselineError(f"cannot read {what} from git ({type(e).__name__}: {cause})") from e


class BaseRepository:
    """The repository holding the manifest, opened to read base versions; a context manager.

    Errors (not a repository, unknown ref, a git command past its deadline) are raised per call
    as BaselineError, so that each model using a ref gets the finding. ``deadline`` is the
    ``time.monotonic()`` at which the check's time budget ends: no git command runs past it.
    """

    def __init__(self, root: Path, deadline: float | None = None) -> None:
        self.root = root
        self.deadline = deadline
        self._git: _Git | None = None
        self._open_error: BaselineError | None = None
        self._resolved: dict[tuple[str, tuple[str, ...]], ResolvedRef | BaselineError] = {}
        self._manifests: dict[tuple[str, str], dict[str, BaseEntry] | None] = {}
        self._tmp: Path | None = None
        self._folder: Any = None
        self._written = 0

    def __enter__(self) -> BaseRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the temporary folder."""
        if self._folder is not None:
            self._folder.__exit__(None, None, None)
            self._folder = self._tmp = None

    def git(self) -> _Git:
        """The git runner for this repository (checked once)."""
        if self._open_error is not None:
            raise self._open_error
        if self._git is None:
            try:
                self._git = _open(self.root, self.deadline)
            except BaselineError as e:
                self._open_error = e
                raise
        return self._git

    def changed_paths(self, resolved: ResolvedRef) -> set[str]:
        """Files the change adds, modifies or renames since it left ``resolved`` (its merge base
        with HEAD), working-tree edits and new untracked files included; repository-relative."""
        git = self.git()
        # Unrelated histories, or no HEAD yet (exit 1 or 128): diff with the ref itself.
        code, merge_base = git.text("merge-base", "--end-of-options", resolved.commit, "HEAD",
                                    ok=(0, 1, 128))
        base = merge_base.strip() if code == 0 and merge_base.strip() else resolved.commit
        _, changed = git.text("diff", "--no-ext-diff", "--name-only", "-z", "--diff-filter=AMR",
                              base, "--")
        _, untracked = git.text("ls-files", "--others", "--exclude-standard", "-z")
        return {p for p in (changed + "\0" + untracked).split("\0") if p}

    def tracked_paths(self) -> set[str] | None:
        """Every file git tracks or would add (ignored files left out); None outside git."""
        try:
            git = self.git()
        except BaselineError:
            return None
        _, listed = git.text("ls-files", "--cached", "--others", "--exclude-standard", "-z")
        return {p for p in listed.split("\0") if p}

    def resolve(self, choice: RefChoice) -> ResolvedRef:
        """The commit ``choice`` names; BaselineError when it cannot be found."""
        key = (choice.ref, choice.fallbacks)
        if key not in self._resolved:
            try:
                self._resolved[key] = self._resolve(choice)
            except BaselineError as e:
                self._resolved[key] = e
        found = self._resolved[key]
        if isinstance(found, BaselineError):
            raise found
        return found

    def _resolve(self, choice: RefChoice) -> ResolvedRef:
        check_ref_text(choice.ref)
        git = self.git()
        for ref in (choice.ref, *choice.fallbacks):
            check_ref_text(ref)
            # --end-of-options: even a checked ref is never parsed as an option.
            code, commit = git.text("rev-parse", "--verify", "--quiet", "--end-of-options",
                                    f"{ref}^{{commit}}", ok=(0, 1, 128))
            if code == 0 and commit.strip():
                return ResolvedRef(ref, commit.strip(), choice.source)
        code, shallow = git.text("rev-parse", "--is-shallow-repository", ok=(0, 1, 128))
        if code == 0 and shallow.strip() == "true":
            depth = "`GIT_DEPTH: 0` in the job's variables" \
                if choice.source.startswith("CI_MERGE_REQUEST") \
                else "`fetch-depth: 0` in actions/checkout"
            raise BaselineError(f"the base ref {choice.ref} is not in this shallow clone: use "
                                f"{depth} or run `{_fetch_command(git, choice.ref)}`")
        raise BaselineError(f"the base ref {choice.ref} does not exist in this repository "
                            f"(from {choice.source}); check the name, or fetch it with "
                            f"`{_fetch_command(git, choice.ref)}`")

    def base_models(self, resolved: ResolvedRef, manifest_path: str) -> dict[str, BaseEntry] | None:
        """The base manifest's models by name; None when the base has no (readable) manifest."""
        key = (resolved.commit, manifest_path)
        if key not in self._manifests:
            with _reading(f"{resolved.ref}:{manifest_path}"):
                self._manifests[key] = self._read_manifest(resolved, manifest_path)
        return self._manifests[key]

    def _read_manifest(self, resolved: ResolvedRef, manifest_path: str) -> dict[str, BaseEntry] | None:
        from deploygate.manifest.load import MAX_MANIFEST_BYTES, ManifestSyntaxError, parse_document

        entry = self._entry(resolved, manifest_path)
        if entry is None or entry.type != "blob" or entry.mode == _LINK_MODE \
                or entry.size > MAX_MANIFEST_BYTES:
            return None
        try:
            doc, _ = parse_document(self.git().blob_bytes(entry).decode("utf-8"), manifest_path)
        except (UnicodeDecodeError, ManifestSyntaxError):
            return None
        return _entries(doc, posixpath.dirname(manifest_path))

    def exists(self, resolved: ResolvedRef, repo_path: str) -> bool:
        """Whether ``repo_path`` names a file or folder in the base commit."""
        with _reading(f"{resolved.ref}:{repo_path}"):
            return self._entry(resolved, repo_path) is not None

    def materialize(self, repo_path: str, commit: str, ref: str) -> BaseFiles:
        """Write the base artifact (file or folder, and the files it names, such as ONNX external
        data) to the temp folder."""
        with _reading(f"{ref}:{repo_path}"):
            return self._materialize(repo_path, commit, ref)

    def _materialize(self, repo_path: str, commit: str, ref: str) -> BaseFiles:
        resolved = ResolvedRef(ref, commit, "")
        entry = self._entry(resolved, repo_path)
        display = f"{ref}:{repo_path}"
        if entry is None:
            raise BaselineError(f"{display} does not exist")
        if self._tmp is None:
            # A private (0700) folder, removed on close, and swept at a later start if this
            # process is killed outright.
            self._folder = private_folder("base")
            self._tmp = self._folder.__enter__()
        assert self._tmp is not None
        self._written += 1
        slot = self._tmp / str(self._written)
        slot.mkdir()
        target = slot / posixpath.basename(repo_path)
        git = self.git()
        writer = _Writer(git, display)
        if entry.type == "tree":
            target.mkdir()
            # Only the files the model is read from (a README or a dataset beside it is never
            # streamed); links could point anywhere: never followed.
            blobs = {c.name: c for c in git.children(entry)
                     if c.type == "blob" and c.mode != _LINK_MODE}
            members = formats.folder_members(blobs)
            if len(members) > MAX_BASE_FOLDER_FILES:
                # each is one git process: many thousands would spend the time budget
                raise BaselineError(f"{display} holds {len(members)} files of its model in the "
                                    f"base, over the {MAX_BASE_FOLDER_FILES} read from one folder")
            for name in members:
                writer.write(blobs[name], target / _safe_name(name, display))
            for model_file in sorted(target.iterdir()):
                self._companions(writer, entry, model_file, display)
        elif entry.type == "blob" and entry.mode != _LINK_MODE:
            writer.write(entry, target)
            parent = self._entry(resolved, posixpath.dirname(repo_path))
            self._companions(writer, parent, target, display)
        else:
            raise BaselineError(f"{display} is a symbolic link or submodule in the base commit; "
                                "not followed")
        return BaseFiles(target, display, repo_path, tuple(writer.pointers),
                         _counted_size(target, writer), writer.pointer_reason)

    def _companions(self, writer: _Writer, folder: _Entry | None, model: Path,
                    display: str) -> None:
        """Write the files a model names beside it (ONNX external data), from its folder in the
        base tree."""
        if str(model) in writer.pointer_paths or not model.is_file():
            return  # the model itself is a pointer: the files it names cannot be known
        from deploygate.artifacts.detect import read_head
        from deploygate.errors import ArtifactError

        sniffed = formats.sniff(read_head(model), model.stat().st_size)
        fmt = formats.FORMATS.get(sniffed or "") or formats.for_suffix(model.name)
        if fmt is None or fmt.companions is None:
            return
        try:
            locations = fmt.companion_files(model, display)
        except ArtifactError:
            return  # not readable as its format: inspection will say so
        for location in locations:
            dest = model.parent / location
            if dest.exists() or folder is None:
                continue
            blob = self.git().lookup(folder.oid, location)
            if blob is None or blob.type != "blob" or blob.mode == _LINK_MODE:
                continue  # inspection reports the missing file
            dest.parent.mkdir(parents=True, exist_ok=True)
            writer.write(blob, dest)

    def _entry(self, resolved: ResolvedRef, repo_path: str) -> _Entry | None:
        if repo_path in ("", "."):
            return _Entry(_TREE_MODE, "tree", f"{resolved.commit}^{{tree}}", 0, "")
        return self.git().lookup(resolved.commit, repo_path)


def _open(root: Path, deadline: float | None) -> _Git:
    executable = shutil.which("git")
    if executable is None:
        raise BaselineError("git is not available (no `git` on PATH); install git to compare "
                            "with a base ref")
    if not (root / ".git").exists():
        raise BaselineError(f"{root.name or root} is not in a git repository; a base ref needs "
                            "one (run in a clone, or drop --base and baseline.ref)")
    return _Git(executable, root, deadline)


def _fetch_command(git: _Git, ref: str) -> str:
    try:
        _, listed = git.text("remote")
    except BaselineError:
        listed = ""
    remotes = listed.split() or ["origin"]
    remote, branch = ("origin" if "origin" in remotes else remotes[0]), ref
    head, _, rest = ref.partition("/")
    if rest and head in remotes:
        remote, branch = head, rest
    elif ref.startswith("refs/remotes/"):
        remote, _, branch = ref.removeprefix("refs/remotes/").partition("/")
    return f"git fetch {remote} {branch} --depth=1"


def _entries(doc: Any, manifest_dir: str) -> dict[str, BaseEntry] | None:
    """Model names and paths from a base manifest's data; tolerant of older or odd manifests."""
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), list):
        return None
    defaults: dict[str, Any] = doc["defaults"] if isinstance(doc.get("defaults"), dict) else {}
    found: dict[str, BaseEntry] = {}
    for raw in doc["models"]:
        if not isinstance(raw, dict):
            continue
        name, path = raw.get("name"), raw.get("path")
        fmt = raw.get("format", defaults.get("format"))
        if not isinstance(name, str) or not isinstance(path, str):
            continue
        repo_path = repo_relative(manifest_dir, path)
        if repo_path is not None:
            found.setdefault(name, BaseEntry(name, repo_path, fmt if isinstance(fmt, str) else None,
                                             _allowed_globals(raw, defaults)))
    return found


def _allowed_globals(raw: dict[str, Any], defaults: dict[str, Any]) -> tuple[str, ...]:
    """``security.allow_globals`` of a base manifest's entry (the model's own, else defaults')."""
    for where in (raw, defaults):
        security = where.get("security")
        if isinstance(security, dict) and "allow_globals" in security:
            names = security["allow_globals"]
            return tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()
    return ()


def repo_relative(manifest_dir: str, path: str) -> str | None:
    """``manifest_dir/path`` normalised, or None when absolute or outside the repository."""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        return None
    joined = posixpath.normpath(posixpath.join(manifest_dir, path))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def _safe_name(name: str, display: str) -> str:
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise BaselineError(f"{display}: the base tree has an entry named {name!r}; refused")
    return name


class _Writer:
    """Streams blobs to disk, smudging LFS pointers when git-lfs is installed."""

    def __init__(self, git: _Git, display: str) -> None:
        self.git, self.display = git, display
        self.pointers: list[str] = []
        self.pointer_paths: set[str] = set()
        self.pointer_sizes: dict[str, int] = {}
        self.pointer_reason: str | None = None

    def write(self, blob: _Entry, dest: Path) -> None:
        from deploygate.artifacts.lfs import MAX_POINTER_BYTES, parse_pointer

        if blob.size < MAX_POINTER_BYTES:
            data = self.git.blob_bytes(blob)
            pointer = parse_pointer(data)
            if pointer is not None and self._smudge(data, pointer.size, dest) and \
                    self._verified(pointer.oid, dest):
                return
            dest.write_bytes(data)
            if pointer is not None:
                self.pointers.append(str(dest.name))
                self.pointer_paths.add(str(dest))
                self.pointer_sizes[str(dest)] = pointer.size
            return
        fmt = formats.for_suffix(dest.name)
        with dest.open("wb") as out:
            if fmt is not None and fmt.read_bytes is not None and blob.size > fmt.read_bytes:
                # Its reader never goes past read_bytes: the tensors stay in git, a hole of
                # their size stands for them (a 14 GB checkpoint is not copied to read 1 MB).
                self.git.blob_head(blob, out, fmt.read_bytes)
                out.truncate(blob.size)
            else:
                self.git.blob(blob, out, self.display)

    def _smudge(self, pointer: bytes, size: int, dest: Path) -> bool:
        """Replace a pointer by its content with ``git lfs smudge``; False when that fails."""
        git_lfs = shutil.which("git-lfs")
        if git_lfs is None:
            self.pointer_reason = "git-lfs is not installed"
            return False
        try:
            timeout = self.git.time_left(LFS_SMUDGE_TIMEOUT_S, "git lfs smudge")
            with dest.open("wb") as out:
                # The object's size is known from the pointer: more is refused as it arrives.
                _bounded([git_lfs, "smudge"], "git lfs smudge", cwd=self.git.root,
                         env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, timeout=timeout,
                         ok=(0,), sink=out, cap=max(size, len(pointer)),
                         stdin=pointer)
        except BaselineError as e:
            said = self.git.budget_said(e)
            if said is not e:
                # Nothing else can be read from git now: the comparison cannot be judged.
                raise said from e
            self.pointer_reason = f"{e}"
            return False
        # With GIT_LFS_SKIP_SMUDGE set, or the object missing, the pointer comes back unchanged.
        if dest.stat().st_size == size:
            return True
        self.pointer_reason = "`git lfs smudge` could not fetch the object"
        return False

    def _verified(self, oid: str, dest: Path) -> bool:
        """Whether the smudged file hashes to the pointer's oid. git-lfs checks what it
        downloads, but reads ``lfs.url`` from the checked-out ``.lfsconfig`` (the pull
        request's) and trusts its local store: the base is only compared when its bytes are
        the ones the base commit names."""
        import hashlib

        digest = hashlib.sha256()
        with dest.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if f"sha256:{digest.hexdigest()}" == oid:
            return True
        self.pointer_reason = ("`git lfs smudge` returned content whose sha256 is not the "
                               "pointer's oid")
        return False


def _counted_size(target: Path, writer: _Writer) -> int:
    """Bytes of the artifact's model files, LFS pointers at the size they record."""
    files = [p for p in target.rglob("*") if p.is_file()] if target.is_dir() else \
        [p for p in target.parent.rglob("*") if p.is_file()]
    total = 0
    for p in files:
        if str(p) in writer.pointer_sizes:
            total += writer.pointer_sizes[str(p)]
        elif not target.is_dir() or p.name.lower().endswith(formats.model_suffixes()):
            total += p.stat().st_size
    return total


def head_repo_path(root: Path, path: Path) -> str | None:
    """``path`` relative to the repository root as POSIX, or None when outside it."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def locate_base(manifest: Manifest, spec: ModelSpec, repo: BaseRepository,
               resolved: ResolvedRef) -> BaselineComparison:
    """Where the model lives on the base: by name in the base manifest, else by path.

    The result is ``compared`` (to be filled in) with ``base_path`` set, or ``new``/``skipped``.
    """
    manifest_path = head_repo_path(manifest.root, manifest.file)
    head_path = head_repo_path(manifest.root, spec.resolved_path)
    if manifest_path is None or head_path is None:
        raise BaselineError("the manifest or the model lies outside the git repository")
    found = BaselineComparison(resolved.ref, resolved.source, "compared", commit=resolved.commit,
                               base_path=head_path)
    models = repo.base_models(resolved, manifest_path)
    if models is None:
        found = replace(found, notes=(f"no readable {manifest_path} on the base: matched by path",))
        return found if repo.exists(resolved, head_path) else replace(found, status="new")
    entry = models.get(spec.name)
    if entry is None:
        # Renamed in the manifest only: the same file, under a name this manifest dropped, is
        # this model's base (a new name alone does not make it a new, unjudged model).
        head_names = {m.name for m in manifest.models}
        entry = next((e for e in models.values()
                      if e.path == head_path and e.name not in head_names), None)
        if entry is None:
            return replace(found, status="new", base_allow_globals=())
        found = replace(found, notes=(f"matched by path: the base manifest calls it "
                                      f"{entry.name!r}",))
    if not repo.exists(resolved, entry.path):
        return replace(found, status="skipped", base_path=entry.path, reason=(
            f"the base manifest names {entry.path}, which is not in the base commit"))
    return replace(found, base_path=entry.path, base_format=entry.format,
                   base_allow_globals=entry.allow_globals)


def removed_models(manifest: Manifest, repo: BaseRepository,
             choices: Iterable[RefChoice | None]) -> Iterator[tuple[BaseEntry, str]]:
    """Models declared in a base manifest that this manifest no longer declares, by name or
    (a model renamed in the manifest only) by path."""
    names = {m.name for m in manifest.models}
    paths = {head_repo_path(manifest.root, m.resolved_path) for m in manifest.models}
    manifest_path = head_repo_path(manifest.root, manifest.file)
    seen: set[str] = set()
    for choice in dict.fromkeys(c for c in choices if c is not None):
        try:
            resolved = repo.resolve(choice)
            models = repo.base_models(resolved, manifest_path) if manifest_path else None
        except BaselineError:
            continue  # each model using the ref already carries DG601
        for entry in (models or {}).values():
            if entry.name not in names and entry.path not in paths and entry.name not in seen:
                seen.add(entry.name)
                yield entry, f"{resolved.ref} ({resolved.short})"
