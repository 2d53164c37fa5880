"""`launch/predict.py` throughput: frames/s of video decode + Haar face + crop + jitted VGG16 estimate.

    python benchmarks/predict.py [--size 224] [--width 1.0] [--frames 96] [--batch 16]

The estimator is trained for 2 steps only (its numbers are irrelevant; the cost is the same), with
'none' alignment (face crop); registration-based alignment adds the registration network's cost
(see benchmarks/registration_inference.py). The video is 128 px SynthFACS renders, upscaled to 320x320.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--frames", type=int, default=96)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()

    from jaxau import platform

    platform.configure_xla()
    import cv2
    import numpy as np

    from jaxau import inference
    from jaxau.face import synth
    from jaxau.train import estimator

    config = dataclasses.replace(synth.get_config("disfa_small"), supersample=1, batch_size=8)
    faces = np.stack([e["image"] for _, e in synth.generate_examples(config, "test", subjects=[0],
                                                                       max_frames_per_subject=8)])
    tmp = tempfile.mkdtemp()
    n = 8
    small = np.stack([cv2.resize(f, (args.size, args.size)) for f in faces])
    frames = {"image": small, "au_intensity": np.zeros((n, 7), np.int32), "subject": np.asarray(["s"] * n),
              "sequence": np.asarray(["q"] * n), "frame": np.arange(n, dtype=np.int32),
              "pose_id": np.zeros(n, np.int32), "au_names": np.asarray(["AU01", "AU04", "AU06", "AU10",
                                                                        "AU12", "AU14", "AU17"])}
    cfg = {"width": args.width, "image_size": args.size, "batch_size": 8, "num_steps": 2, "learning_rate": 1e-4,
           "dropout": 0.5, "freeze": "", "pretrained": "", "readout": "argmax", "flip": False,
           "checkpoint_every": 2, "log_every": 1, "eval_every": 0}
    model_dir = os.path.join(tmp, "model")
    estimator.train(cfg, model_dir, frames)
    video = os.path.join(tmp, "clip.avi")
    out = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (320, 320))
    for i in range(args.frames):
        out.write(cv2.cvtColor(cv2.resize(faces[i % len(faces)], (320, 320)), cv2.COLOR_RGB2BGR))
    out.release()
    inference.predict_to_csv(video, os.path.join(tmp, "warm.csv"), model_dir, batch_size=args.batch)  # compile
    t0 = time.perf_counter()
    summary = inference.predict_to_csv(video, os.path.join(tmp, "aus.csv"), model_dir, batch_size=args.batch)
    dt = time.perf_counter() - t0
    print(f"predict {args.size}px width {args.width}: {args.frames / dt:.1f} frames/s "
          f"({summary['success']}/{summary['frames']} with a face; includes model loading)")


if __name__ == "__main__":
    main()
