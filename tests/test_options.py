import pytest
from pydantic import ValidationError

from screentime.contracts.errors import InvalidOption
from screentime.contracts.options import RunOptions, describe_validation_error
from screentime.vision.devices import resolve_device


def test_defaults_are_valid():
    options = RunOptions()
    assert options.fps == 0 and options.device == "auto" and options.detector == "retinaface"
    assert options.full_detect_every == 0  # auto: a full pass every 8 frames on the CPU, every frame on CUDA


@pytest.mark.parametrize("field, value, words", [
    ("fps", -1, "fps"),
    ("jpeg_quality", 0, "jpeg_quality"),
    ("jpeg_quality", 101, "jpeg_quality"),
    ("device", "tpu", "unknown device"),
    ("device", "cuda:x", "unknown device"),
    ("detector", "mtcnn", "unknown detector"),
    ("det_size", 10, "det_size"),
    ("batch_size", -1, "batch_size"),
    ("full_detect_every", -1, "full_detect_every: Input should be greater than or equal to 0"),
    ("full_detect_every", 1001, "full_detect_every"),
    ("fps", float("nan"), "fps: Input should be a finite number"),  # not "should be <= 240"
    ("min_score", float("inf"), "min_score: Input should be a finite number"),
    ("crop_every_s", float("-inf"), "crop_every_s: Input should be a finite number"),
])
def test_absurd_options_are_rejected_naming_the_field(field, value, words):
    with pytest.raises(ValidationError) as err:
        RunOptions(**{field: value})
    assert words in describe_validation_error(err.value)


def test_yolo_needs_local_weights():
    with pytest.raises(ValidationError, match="detector_weights"):
        RunOptions(detector="yolo")


def test_unknown_option_names_are_rejected():
    with pytest.raises(ValidationError):
        RunOptions(fsp=3)


def test_cuda_on_a_machine_without_one_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert resolve_device("auto") == "cpu"
    with pytest.raises(InvalidOption, match="CUDA is not available"):
        resolve_device("cuda")
