"""Make the small PyTorch fixtures the tests read. Needs torch; run once, commit the output.

    python tests/data/pytorch/make_fixtures.py

The tests never import torch: they assert the counts this script prints.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).parent


class Tied(nn.Module):
    """An embedding and an output layer sharing one weight (tied storage)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight
        self.norm = nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.embed(x)))


def params(sd: dict[str, torch.Tensor]) -> int:
    seen: dict[tuple[int, int, tuple[int, ...]], int] = {}
    for t in sd.values():
        seen[(t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))] = t.numel()
    return sum(seen.values())


def drop_debug_info(path: Path) -> None:
    """Remove the *.debug_pkl members: their source ranges record this machine's file paths."""
    with zipfile.ZipFile(path) as zin:
        members = [(i, zin.read(i)) for i in zin.infolist()]
    with zipfile.ZipFile(path, "w") as zout:
        for info, data in members:
            if not info.filename.endswith(".debug_pkl"):
                zout.writestr(info, data)


def main() -> None:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    sd = mlp.state_dict()
    torch.save(sd, HERE / "mlp_zip.pt")
    torch.save(sd, HERE / "mlp_legacy.pt", _use_new_zipfile_serialization=False)
    print("mlp params", params(sd))

    base = torch.arange(12.0).reshape(3, 4)  # two views of one storage
    mixed = {"w16": torch.ones(5, 6, dtype=torch.float16),
             "bf": torch.ones(7, dtype=torch.bfloat16),
             "i64": torch.arange(4),
             "f8": torch.zeros(3, 2).to(torch.float8_e4m3fn),
             "view": base[1:], "row0": base[0]}
    torch.save(mixed, HERE / "mixed_zip.pt")
    print("mixed params", params(mixed), {k: (str(v.dtype), v.numel()) for k, v in mixed.items()})

    tied = Tied()
    tsd = tied.state_dict()
    torch.save(tsd, HERE / "tied_zip.pt")
    torch.save(tsd, HERE / "tied_legacy.pt", _use_new_zipfile_serialization=False)
    print("tied params", params(tsd), "tensors", len(tsd))

    scripted = torch.jit.script(mlp)
    scripted.save(str(HERE / "mlp_script.pt"))
    drop_debug_info(HERE / "mlp_script.pt")
    torch.jit.load(str(HERE / "mlp_script.pt"))  # still a valid archive
    print("torchscript params", params(mlp.state_dict()))

    for p in sorted(HERE.glob("*.pt")):
        print(p.name, p.stat().st_size)


if __name__ == "__main__":
    main()
