"""A TensorFlow v1-flags training script with trackkit: the flags become the run's config.

    python examples/tf_flags_example.py --learning_rate=0.05 --hidden=16,8
    trackkit runs tf-flags-example

``tf.compat.v1.flags`` (the same object as ``tf.compat.v1.app.flags``) and ``absl.flags`` both
work, parsed or not; only the script's own flags are recorded, not absl's or TensorFlow's.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import trackkit  # noqa: E402

flags = tf.compat.v1.flags
flags.DEFINE_float("learning_rate", 0.1, "SGD step size")
flags.DEFINE_integer("epochs", 5, "passes over the data")
flags.DEFINE_integer("batch_size", 32, "examples per step")
flags.DEFINE_list("hidden", ["32"], "hidden layer sizes")
flags.DEFINE_string("run_name", None, "trackkit run name (generated when not given)")
FLAGS = flags.FLAGS


def make_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 1.5], dtype="float32") > 0).astype("float32")[:, None]
    return x, y


def main(argv: list[str]) -> None:
    run = trackkit.init(project="tf-flags-example", name=FLAGS.run_name, config=FLAGS)

    sizes = [4, *[int(h) for h in FLAGS.hidden], 1]
    weights = [tf.Variable(tf.random.normal((a, b), stddev=0.5, seed=i)) for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
    x, y = make_data(512)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(FLAGS.batch_size)

    def forward(inputs: tf.Tensor) -> tf.Tensor:
        for w in weights[:-1]:
            inputs = tf.nn.relu(inputs @ w)
        return inputs @ weights[-1]

    for epoch in range(FLAGS.epochs):
        losses, correct = [], 0.0
        for xb, yb in dataset:
            with tf.GradientTape() as tape:
                logits = forward(xb)
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yb, logits=logits))
            for w, g in zip(weights, tape.gradient(loss, weights)):
                w.assign_sub(FLAGS.learning_rate * g)  # plain SGD
            losses.append(float(loss))
            correct += float(tf.reduce_sum(tf.cast((logits > 0) == (yb > 0.5), tf.float32)))
        run.log({"epoch": epoch, "loss": float(np.mean(losses)), "accuracy": correct / len(x)}, step=epoch)

    run.finish()
    print(f"run {run.name}: config {dict(trackkit.Api().run(f'{run.project}/{run.id}').config)}")


if __name__ == "__main__":
    tf.compat.v1.app.run(main)
