"""Make the small Keras fixtures the tests read. Needs keras 3 and a backend; run once, commit
the output:

    KERAS_BACKEND=torch python tests/data/keras/make_fixtures.py

The tests never import keras (deploygate reads these files with h5py alone); they assert the
counts this script prints, which keras itself reports (``count_params``).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).parent


def mlp(name: str = "mlp") -> keras.Model:
    inp = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="d1")(inp)
    return keras.Model(inp, keras.layers.Dense(2, name="d2")(hidden), name=name)


def trained(model: keras.Model) -> keras.Model:
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 4)), np.ones((4, 2)), epochs=1, verbose=0)
    return model


def main() -> None:
    keras.utils.set_random_seed(0)
    model = trained(mlp())
    model.save(HERE / "mlp.keras")  # Keras 3: a zip of config.json and model.weights.h5
    model.save(HERE / "mlp.h5")  # the legacy HDF5 file: model_weights and optimizer_weights
    model.save_weights(HERE / "mlp.weights.h5")  # weights alone
    print("mlp params", model.count_params(), "optimizer variables",
          sum(int(np.prod(v.shape)) for v in model.optimizer.variables))

    inp = keras.Input((4,), name="x")
    # compiled from text so that the marshalled code names no file of the machine that made it
    double = eval(compile("lambda t: t * 2.0", "<fixture>", "eval"))  # noqa: S307
    scaled = keras.layers.Lambda(double, name="double")(inp)
    with_code = keras.Model(inp, keras.layers.Dense(2, name="d")(scaled), name="with_lambda")
    with_code.save(HERE / "lambda.keras")
    with_code.save(HERE / "lambda.h5")
    print("lambda params", with_code.count_params())

    weightless = keras.Sequential([keras.Input((4,)), keras.layers.ReLU()], name="relu_only")
    weightless.save(HERE / "weightless.keras")
    print("weightless params", weightless.count_params())

    for path in sorted(HERE.glob("*.*")):
        if path.suffix != ".py":
            print(path.name, path.stat().st_size)


if __name__ == "__main__":
    main()
