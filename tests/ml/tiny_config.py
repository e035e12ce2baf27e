"""The tiny networks and settings of the training tests (64 px data, CPU, seconds per round)."""

from ml.train import TrainConfig

TINY = dict(
    num_classes=3,
    crop_size=32,
    scale_range=(0.75, 1.25),
    lr=3e-3,
    tau=0.6,
    batch_size=4,
    unlabeled_batch_size=4,
    eval_every=1000,
    save_every=1000,
    su_kwargs={
        "encoder_kwargs": {"embed_dim": 24, "depths": (1, 1, 1, 1), "num_heads": (1, 2, 4, 8)},
        "decoder_depth": 1,
    },
    ru_encoder="mobilenetv3_small_100",
    ru_kwargs={"decoder_channels": (32, 16, 16, 8, 8)},
    student_encoder="resnet18",
    student_kwargs={"decoder_channels": (32, 16, 16, 8, 8)},
    # these tests check the distillation machinery; the gate has tests of its own
    teacher_gate=False,
)


def cfg(**kw):
    return TrainConfig(**{**TINY, **kw})
