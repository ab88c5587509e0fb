"""Make the small PyTorch fixtures the tests read. Needs torch; run once, commit the output.

    python tests/data/pytorch/make_fixtures.py

The tests never import torch: they assert the counts this script prints.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2]))
from tests.fixtures.checkpoints import BIG_NUMEL, BIG_STORAGE, rebuild_big_zip  # noqa: E402


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


def big_zip_members() -> None:
    """The small members of a real torch.save archive of one 17M-float tensor.

    The tests rebuild the >64 MiB archive from them at test time
    (tests/fixtures/checkpoints.py) rather than committing it; torch.load accepts the rebuilt
    file.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "big.pt"
        torch.save({"weight": torch.zeros(BIG_NUMEL)}, full)
        with zipfile.ZipFile(full) as zin:
            storage = [i for i in zin.infolist() if "/data/" in i.filename]
            assert [i.filename for i in storage] == [BIG_STORAGE]
            with zipfile.ZipFile(HERE / "big_zip_members.zip", "w") as zout:
                for info in zin.infolist():
                    if info not in storage:
                        zout.writestr(info.filename, zin.read(info))
        rebuilt = Path(tmp) / "rebuilt.pt"
        rebuild_big_zip(HERE / "big_zip_members.zip", rebuilt)
        assert torch.load(rebuilt)["weight"].numel() == BIG_NUMEL
        print("big zip storage member", storage[0].filename, "size", full.stat().st_size)


def training_checkpoints() -> None:
    """Checkpoints as training loops write them: weights next to optimizer state and EMA."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    adam = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    adam.step()
    sched = torch.optim.lr_scheduler.StepLR(adam, 10)
    sd = model.state_dict()
    n = params(sd)
    ema = {k: v.detach().clone() for k, v in sd.items()}
    opt_sd = adam.state_dict()
    opt_tensors = [t for s in opt_sd["state"].values() for t in s.values()
                   if isinstance(t, torch.Tensor)]
    opt_bytes = sum(t.numel() * t.element_size() for t in opt_tensors)
    print("train model params", n, "optimizer tensors", len(opt_tensors), "bytes", opt_bytes)

    # the PyTorch tutorial's layout
    torch.save({"epoch": 3, "model_state_dict": sd, "optimizer_state_dict": opt_sd,
                "loss": 0.25}, HERE / "train_tutorial.pt")
    # model_state + optimizer_state, legacy serialization
    torch.save({"model_state": sd, "optimizer_state": opt_sd, "epoch": 3},
               HERE / "train_legacy.pt", _use_new_zipfile_serialization=False)
    # timm's layout: an EMA copy of the weights beside the weights
    torch.save({"epoch": 3, "arch": "mlp", "state_dict": sd, "optimizer": opt_sd,
                "state_dict_ema": ema}, HERE / "train_ema.pt")
    # Lightning's layout (what Trainer.save_checkpoint writes), hyper-parameters as a dict
    lightning = {"epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.4.0",
                 "state_dict": {f"model.{k}": v for k, v in sd.items()},
                 "loops": {"fit_loop": {"epoch_progress": {"total": {"ready": 3}}}},
                 "callbacks": {"ModelCheckpoint{'monitor': None}": {"best_model_score": None}},
                 "optimizer_states": [opt_sd], "lr_schedulers": [sched.state_dict()],
                 "hparams_name": "kwargs", "hyper_parameters": {"lr": 1e-3, "hidden": 8}}
    torch.save(lightning, HERE / "lightning.ckpt")
    try:
        from omegaconf import OmegaConf
    except ImportError:
        print("omegaconf missing: lightning_omegaconf.ckpt not made")
    else:
        # a Hydra/Lightning run saves its config as omegaconf objects
        lightning["hyper_parameters"] = OmegaConf.create({"lr": 1e-3, "layers": [3, 8, 2]})
        torch.save(lightning, HERE / "lightning_omegaconf.ckpt")
    # files with no model weights at all, or with only the averaged copy
    torch.save(opt_sd, HERE / "optimizer_only.pt")
    torch.save({"decay": 0.999, "num_updates": 10,  # torch_ema.ExponentialMovingAverage
                "shadow_params": [p.detach().clone() for p in model.parameters()],
                "collected_params": None}, HERE / "ema_only.pt")
    torch.save({"epoch": 3, "loss": 0.25}, HERE / "no_weights.pt")


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

    big_zip_members()
    training_checkpoints()
    for p in sorted([*HERE.glob("*.pt"), *HERE.glob("*.ckpt"), *HERE.glob("*.zip")]):
        print(p.name, p.stat().st_size)


if __name__ == "__main__":
    main()
