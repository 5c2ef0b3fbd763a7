"""Label semantics from ground truth: present 1, hedged -1, negated 0, resolved 0, No Finding."""

from clinvla_kit.synth.findings import Finding
from clinvla_kit.synth.labels import study_labels


def test_label_semantics():
    fs = [Finding("pleural_effusion", 0.5, side="left"), Finding("pneumonia", 0.6, side="right", lobe="RLL", hedged=True),
          Finding("edema", 0.0, change="resolved"), Finding("support_devices", 1.0, device="ett")]
    lab = study_labels(fs, negated=["pneumothorax"])
    assert lab["Pleural Effusion"] == 1.0
    assert lab["Pneumonia"] == -1.0 and lab["Lung Opacity"] == -1.0
    assert lab["Edema"] == 0.0 and lab["Pneumothorax"] == 0.0
    assert lab["Support Devices"] == 1.0
    assert lab["No Finding"] is None and lab["Fracture"] is None


def test_no_finding_allows_devices():
    lab = study_labels([Finding("support_devices", 1.0, device="ngt")], negated=["cardiomegaly"])
    assert lab["No Finding"] == 1.0 and lab["Cardiomegaly"] == 0.0
