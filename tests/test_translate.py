"""coursekit.translate and `coursekit translate`: your own images through a trained model."""
import numpy as np
import pytest
from PIL import Image

from coursekit.cli import main
from coursekit.translate import MODEL_INPUTS, translate_images


def negate(x):
    return -x


def _rgb(path, w, h, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "photos"
    (src / "trip").mkdir(parents=True)
    _rgb(src / "square.png", 16, 16)
    _rgb(src / "trip" / "wide.jpg", 40, 20, seed=1)
    Image.fromarray(np.full((12, 12), 200, np.uint8)).save(src / "grey.png")  # mode L
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 10  # red, almost transparent: alpha is dropped
    Image.fromarray(rgba).save(src / "trip" / "alpha.png")
    (src / "notes.txt").write_text("not an image")
    return src


def test_outputs_are_the_translations_of_what_the_model_saw(folder, tmp_path):
    out = tmp_path / "out"
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    results = translate_images(negate, 16, folder, out)
    assert [r.output.relative_to(out).as_posix() for r in results] == [
        "grey.png", "square.png", "trip/alpha.png", "trip/wide.png"]
    for r in results:
        seen = np.asarray(Image.open(r.model_input), dtype=np.int16)
        made = np.asarray(Image.open(r.output), dtype=np.int16)
        assert seen.shape == made.shape == (16, 16, 3)
        # negate maps v/127.5 - 1 to its opposite: pixel value v -> 255 - v (rounding: +-1).
        assert np.abs(made - (255 - seen)).max() <= 1, r.source
    # A 16 px RGB square is used as it is; the others say what was done to them.
    notes = {r.source.name: r.note for r in results}
    assert notes["square.png"] == "used as it is"
    assert np.array_equal(np.asarray(Image.open(out / MODEL_INPUTS / "square.png")),
                          np.asarray(Image.open(folder / "square.png")))
    assert notes["grey.png"] == "L converted to RGB; 12x12 -> 16x16 (scaled)"
    assert notes["alpha.png"] == "RGBA converted to RGB"
    assert notes["wide.jpg"] == "40x20 -> 16x16 (shorter side scaled, centre cropped)"
    assert np.asarray(Image.open(out / MODEL_INPUTS / "trip" / "alpha.png"))[0, 0].tolist() == [255, 0, 0]
    page = (out / "index.html").read_text()
    assert page.count("<tr><td>") == 4 and "trip/wide.png" in page and "centre cropped" in page
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # input untouched


def test_stretch_keeps_the_whole_image(tmp_path):
    src = tmp_path / "in.png"
    img = np.zeros((10, 40, 3), np.uint8)
    img[:, :4] = 255  # a white band at the left edge: a centre crop would lose it
    Image.fromarray(img).save(src)
    out = tmp_path / "out"
    translate_images(negate, 8, src, out, resize="stretch")
    seen = np.asarray(Image.open(out / MODEL_INPUTS / "in.png"))
    # The first output column covers 5 input columns, 4 of them white: about 4/5 of 255.
    assert seen.shape == (8, 8, 3) and seen[:, 0].min() > 150
    translate_images(negate, 8, src, tmp_path / "cropped")
    assert np.asarray(Image.open(tmp_path / "cropped" / MODEL_INPUTS / "in.png"))[:, 0].max() < 50


def test_bad_inputs_are_clear_errors_and_write_nothing(folder, tmp_path):
    with pytest.raises(ValueError, match="inside the input folder"):
        translate_images(negate, 16, folder, folder / "out")
    assert not (folder / "out").exists()
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="broken.png"):
        translate_images(negate, 16, folder, out)
    assert not out.exists()  # every file is decoded before anything is written
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="No images in"):
        translate_images(negate, 16, empty, out)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        translate_images(negate, 16, tmp_path / "missing", out)
    with pytest.raises(ValueError, match="not an image file"):
        translate_images(negate, 16, folder / "notes.txt", out)
    twins = tmp_path / "twins"
    twins.mkdir()
    _rgb(twins / "a.png", 8, 8)
    _rgb(twins / "a.jpg", 8, 8)
    with pytest.raises(ValueError, match="same output: a.png"):
        translate_images(negate, 8, twins, out)


def test_the_command_translates_with_a_checkpoint_and_refuses_what_cannot_work(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "cyclegan", "--steps", "1", "--out", str(run)]) == 0
    src = tmp_path / "horses"
    src.mkdir()
    _rgb(src / "h.png", 50, 40)
    capsys.readouterr()
    out = tmp_path / "zebras"
    args = ["translate", "cyclegan", "--checkpoint", str(run / "latest.pt"), "--input", str(src)]
    assert main(args + ["--out", str(out), "--direction", "BtoA"]) == 0
    said = capsys.readouterr().out
    assert "translated 1 image (0 converted to RGB, 1 resized)" in said and "index.html" in said
    made = np.asarray(Image.open(out / "h.png"))
    assert made.shape == (32, 32, 3)  # the fast preset's size
    # The other generator gives another picture: --direction picked G_BA above.
    assert main(args + ["--out", str(tmp_path / "ab")]) == 0
    assert not np.array_equal(made, np.asarray(Image.open(tmp_path / "ab" / "h.png")))
    capsys.readouterr()
    assert main(["translate", "cut", "--checkpoint", str(run / "latest.pt"), "--input", str(src),
                 "--out", str(tmp_path / "x")]) == 1
    assert "holds a CycleGAN model" in capsys.readouterr().err
    assert main(args + ["--out", str(src / "inside")]) == 1
    assert "never writes into the input folder" in capsys.readouterr().err


def test_one_way_methods_refuse_a_direction(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "cut", "--steps", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    src = tmp_path / "h.png"
    _rgb(src, 8, 8)
    code = main(["translate", "cut", "--checkpoint", str(run / "latest.pt"), "--input", str(src),
                 "--out", str(tmp_path / "o"), "--direction", "BtoA"])
    assert code == 2 and "translates one way only" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_multimodal_method_writes_one_output_per_sample_and_a_seed_repeats_them(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "bicyclegan", "--steps", "2", "--out", str(run)]) == 0
    src = tmp_path / "maps"
    src.mkdir()
    _rgb(src / "m.png", 64, 64)
    args = ["translate", "bicyclegan", "--checkpoint", str(run / "latest.pt"), "--input", str(src)]
    assert main(args + ["--out", str(tmp_path / "a"), "--samples", "3", "--seed", "5"]) == 0
    made = [np.asarray(Image.open(tmp_path / "a" / f"m_{k}.png")) for k in (1, 2, 3)]
    assert not (tmp_path / "a" / "m.png").exists()
    assert not np.array_equal(made[0], made[1])  # a fresh code per sample
    page = (tmp_path / "a" / "index.html").read_text()
    assert page.count("<th>sample ") == 3 and "m_3.png" in page
    assert main(args + ["--out", str(tmp_path / "b"), "--samples", "3", "--seed", "5"]) == 0
    assert np.array_equal(made[2], np.asarray(Image.open(tmp_path / "b" / "m_3.png")))
    assert main(args + ["--out", str(tmp_path / "c")]) == 0  # one output: the code 0
    assert (tmp_path / "c" / "m.png").exists() and not (tmp_path / "c" / "m_1.png").exists()
    capsys.readouterr()
    assert main(["train", "pix2pix", "--steps", "1", "--out", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    code = main(["translate", "pix2pix", "--checkpoint", str(tmp_path / "p" / "latest.pt"),
                 "--input", str(src), "--out", str(tmp_path / "d"), "--samples", "2"])
    assert code == 2 and "needs a multimodal method" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_munit_takes_the_style_of_a_reference_image(tmp_path, capsys):
    from coursekit.models import load_trained
    from coursekit.translate import load_image

    run = tmp_path / "run"
    assert main(["train", "munit", "--steps", "2", "--out", str(run)]) == 0
    src = tmp_path / "summer"
    src.mkdir()
    _rgb(src / "s.png", 32, 32)
    refs = [tmp_path / "r1.png", tmp_path / "r2.png"]
    _rgb(refs[0], 48, 32, seed=3)  # not square: brought to 32 px like the inputs
    Image.fromarray(np.full((32, 32, 3), 250, np.uint8)).save(refs[1])
    args = ["translate", "munit", "--checkpoint", str(run / "latest.pt"), "--input", str(src)]
    for k, ref in enumerate(refs):
        assert main(args + ["--out", str(tmp_path / f"o{k}"), "--style", str(ref)]) == 0
    made = [np.asarray(Image.open(tmp_path / f"o{k}" / "s.png"), dtype=np.int16) for k in (0, 1)]
    assert np.abs(made[0] - made[1]).max() > 0  # another reference, another style
    # The written image is the model's translate_like of the input with that reference.
    method, config = load_trained("munit", run / "latest.pt")
    x = load_image(src / "s.png", config.image_size)[None]
    want = method.translate_like(x, load_image(refs[0], config.image_size)[None])[0]
    want = ((want.clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy()
    assert np.abs(made[0] - want).max() <= 1  # 8-bit rounding
    capsys.readouterr()
    code = main(args + ["--out", str(tmp_path / "x"), "--style", str(refs[0]), "--samples", "2"])
    assert code == 2 and "drop --samples" in capsys.readouterr().err
    code = main(args + ["--out", str(tmp_path / "x"), "--style", str(tmp_path / "nothing.png")])
    assert code == 1 and "no image file" in capsys.readouterr().err
    assert main(args + ["--out", str(tmp_path / "s"), "--samples", "2", "--direction", "BtoA"]) == 0
    assert (tmp_path / "s" / "s_2.png").exists()
    assert main(["train", "cyclegan", "--steps", "1", "--out", str(tmp_path / "c")]) == 0
    capsys.readouterr()
    code = main(["translate", "cyclegan", "--checkpoint", str(tmp_path / "c" / "latest.pt"),
                 "--input", str(src), "--out", str(tmp_path / "x"), "--style", str(refs[0])])
    assert code == 2 and "needs an example-guided method" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
