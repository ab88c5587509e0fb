"""Reading the base ref from git objects: the base manifest and the model's files (and the
files it names, such as ONNX external data) into a private temporary folder, Git LFS pointers
smudged when git-lfs is installed. Nothing checks out, touches the working tree or index, or
runs repository hooks; gitpython is imported only when a comparison actually runs."""

from __future__ import annotations

import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploygate.artifacts import formats
from deploygate.errors import BaselineError
from deploygate.manifest.model import Manifest, ModelSpec

if TYPE_CHECKING:
    import git

from deploygate.baseline.compare import BaselineComparison
from deploygate.baseline.refs import RefChoice, check_ref_text


GIT_TIMEOUT_S = 60
"""Every git command run for a ref (rev-parse) is killed past this: a ref from the manifest
could make git search history (``^{/regex}``) for as long as the regex backtracks."""


LFS_SMUDGE_TIMEOUT_S = 600.0
"""A smudge may download the object; a stuck download must not hang the pipeline."""


CHUNK_BYTES = 1 << 20
"""Blobs are streamed to disk in pieces this big, never held whole in memory."""


_LINK_MODE = 0o120000


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
    """Turn git and file-system failures while reading the base into BaselineError."""
    import git

    try:
        yield
    except (git.GitError, OSError, ValueError) as e:
        cause = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise BaselineError(f"cannot read {what} from git ({type(e).__name__}: {cause})") from e


class BaseRepository:
    """The repository holding the manifest, opened to read base versions; a context manager.

    Errors (not a repository, unknown ref) are raised per call as BaselineError, so that each
    model using a ref gets the finding.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._repo: git.Repo | None = None
        self._open_error: BaselineError | None = None
        self._resolved: dict[tuple[str, tuple[str, ...]], ResolvedRef | BaselineError] = {}
        self._manifests: dict[tuple[str, str], dict[str, BaseEntry] | None] = {}
        self._tmp: Path | None = None
        self._written = 0

    def __enter__(self) -> BaseRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop git helper processes and remove the temporary folder."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def repo(self) -> git.Repo:
        """The gitpython repository (opened once)."""
        if self._open_error is not None:
            raise self._open_error
        if self._repo is None:
            try:
                self._repo = _open(self.root)
            except BaselineError as e:
                self._open_error = e
                raise
        return self._repo

    def changed_paths(self, resolved: ResolvedRef) -> set[str]:
        """Files the change adds, modifies or renames since it left ``resolved`` (its merge base
        with HEAD), working-tree edits and new untracked files included; repository-relative."""
        import git

        with _reading(f"the changes since {resolved.ref}"):
            repo = self.repo()
            try:
                base = repo.git.merge_base(resolved.commit, "HEAD").strip() or resolved.commit
            except git.GitCommandError:  # unrelated histories, or no HEAD yet
                base = resolved.commit
            changed = repo.git.diff("--name-only", "-z", "--diff-filter=AMR", base, "--")
            untracked = repo.git.ls_files("--others", "--exclude-standard", "-z")
        return {p for p in (changed + "\0" + untracked).split("\0") if p}

    def tracked_paths(self) -> set[str] | None:
        """Every file git tracks or would add (ignored files left out); None outside git."""
        try:
            repo = self.repo()
        except BaselineError:
            return None
        with _reading("the repository's files"):
            listed = repo.git.ls_files("--cached", "--others", "--exclude-standard", "-z")
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
        import git

        check_ref_text(choice.ref)
        repo = self.repo()
        for ref in (choice.ref, *choice.fallbacks):
            check_ref_text(ref)
            try:
                # --end-of-options: even a checked ref is never parsed as an option.
                commit = repo.git.rev_parse("--verify", "--quiet", "--end-of-options",
                                            f"{ref}^{{commit}}",
                                            kill_after_timeout=GIT_TIMEOUT_S).strip()
            except git.GitCommandError:
                continue
            if commit:
                return ResolvedRef(ref, commit, choice.source)
        try:
            shallow = repo.git.rev_parse("--is-shallow-repository",
                                         kill_after_timeout=GIT_TIMEOUT_S).strip() == "true"
        except git.GitCommandError:
            shallow = False
        if shallow:
            depth = "`GIT_DEPTH: 0` in the job's variables" \
                if choice.source.startswith("CI_MERGE_REQUEST") \
                else "`fetch-depth: 0` in actions/checkout"
            raise BaselineError(f"the base ref {choice.ref} is not in this shallow clone: use "
                                f"{depth} or run `{_fetch_command(repo, choice.ref)}`")
        raise BaselineError(f"the base ref {choice.ref} does not exist in this repository "
                            f"(from {choice.source}); check the name, or fetch it with "
                            f"`{_fetch_command(repo, choice.ref)}`")

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
            doc, _ = parse_document(entry.data_stream.read().decode("utf-8"), manifest_path)
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
            # mkdtemp creates the folder readable by this user only (0700).
            self._tmp = Path(tempfile.mkdtemp(prefix="deploygate-base-"))
        self._written += 1
        slot = self._tmp / str(self._written)
        slot.mkdir()
        target = slot / posixpath.basename(repo_path)
        writer = _Writer(self.repo(), display)
        if entry.type == "tree":
            target.mkdir()
            for child in entry.blobs:
                if child.mode != _LINK_MODE:  # links could point anywhere: never followed
                    writer.write(child, target / _safe_name(child.name, display))
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

    def _companions(self, writer: _Writer, folder: Any, model: Path, display: str) -> None:
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
            try:
                blob = folder / location
            except KeyError:
                continue  # inspection reports the missing file
            if blob.type != "blob" or blob.mode == _LINK_MODE:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            writer.write(blob, dest)

    def _entry(self, resolved: ResolvedRef, repo_path: str) -> Any:
        tree = self.repo().commit(resolved.commit).tree
        if repo_path in ("", "."):
            return tree
        try:
            return tree / repo_path
        except KeyError:
            return None


def _open(root: Path) -> git.Repo:
    try:
        import git
    except ImportError as e:  # gitpython raises ImportError when no git executable works
        raise BaselineError(f"git is not available ({str(e).splitlines()[0]}); install git to "
                            "compare with a base ref") from e
    if not (root / ".git").exists():
        raise BaselineError(f"{root.name or root} is not in a git repository; a base ref needs "
                            "one (run in a clone, or drop --base and baseline.ref)")
    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError) as e:
        raise BaselineError(f"cannot open the git repository at {root} ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''})") from e


def _fetch_command(repo: git.Repo, ref: str) -> str:
    remotes = [r.name for r in repo.remotes] or ["origin"]
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

    def __init__(self, repo: git.Repo, display: str) -> None:
        self.repo, self.display = repo, display
        self.pointers: list[str] = []
        self.pointer_paths: set[str] = set()
        self.pointer_sizes: dict[str, int] = {}
        self.pointer_reason: str | None = None

    def write(self, blob: Any, dest: Path) -> None:
        from deploygate.artifacts.lfs import MAX_POINTER_BYTES, parse_pointer

        stream = blob.data_stream
        if blob.size < MAX_POINTER_BYTES:
            data = stream.read()
            pointer = parse_pointer(data)
            if pointer is not None and self._smudge(data, pointer.size, dest):
                return
            dest.write_bytes(data)
            if pointer is not None:
                self.pointers.append(str(dest.name))
                self.pointer_paths.add(str(dest))
                self.pointer_sizes[str(dest)] = pointer.size
            return
        with dest.open("wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                out.write(chunk)

    def _smudge(self, pointer: bytes, size: int, dest: Path) -> bool:
        """Replace a pointer by its content with ``git lfs smudge``; False when that fails."""
        git_lfs = shutil.which("git-lfs")
        if git_lfs is None or self.repo.working_tree_dir is None:
            self.pointer_reason = "git-lfs is not installed"
            return False
        try:
            with dest.open("wb") as out:
                done = subprocess.run([git_lfs, "smudge"], input=pointer, stdout=out,
                                      stderr=subprocess.DEVNULL, cwd=self.repo.working_tree_dir,
                                      timeout=LFS_SMUDGE_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            self.pointer_reason = f"`git lfs smudge` failed ({type(e).__name__})"
            return False
        # With GIT_LFS_SKIP_SMUDGE set, or the object missing, the pointer comes back unchanged.
        if done.returncode == 0 and dest.stat().st_size == size:
            return True
        self.pointer_reason = "`git lfs smudge` could not fetch the object"
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
        return replace(found, status="new", base_allow_globals=())
    if not repo.exists(resolved, entry.path):
        return replace(found, status="skipped", base_path=entry.path, reason=(
            f"the base manifest names {entry.path}, which is not in the base commit"))
    return replace(found, base_path=entry.path, base_format=entry.format,
                   base_allow_globals=entry.allow_globals)


def removed_models(manifest: Manifest, repo: BaseRepository,
             choices: Iterable[RefChoice | None]) -> Iterator[tuple[BaseEntry, str]]:
    """Models declared in a base manifest that this manifest no longer declares."""
    names = {m.name for m in manifest.models}
    manifest_path = head_repo_path(manifest.root, manifest.file)
    seen: set[str] = set()
    for choice in dict.fromkeys(c for c in choices if c is not None):
        try:
            resolved = repo.resolve(choice)
            models = repo.base_models(resolved, manifest_path) if manifest_path else None
        except BaselineError:
            continue  # each model using the ref already carries DG601
        for entry in (models or {}).values():
            if entry.name not in names and entry.name not in seen:
                seen.add(entry.name)
                yield entry, f"{resolved.ref} ({resolved.short})"
