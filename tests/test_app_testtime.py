"""The Test time tab end to end over the API, as a program (or an agent) would call it."""
from __future__ import annotations

import pytest
from gradio_client import Client, handle_file
from PIL import Image
from test_app import example_path, refusal

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def test_shift_endpoint_measures_every_variant(client):
    table, gallery, shown = client.predict("cnn", "contrast", 5, 16, api_name="/testtime_shift")
    for name in ("plain twin", "running statistics", "statistics of the corrupted batch", "mix, N = 16"):
        assert name in table
    assert table.count("%") >= 8 and "95% interval" in table
    assert len(gallery) == 8 and shown.count("\n| ") == 8


def test_severities_and_batch_size_endpoints_return_their_figures(client):
    figure = client.predict("cnn", "gaussian_noise", 0, api_name="/testtime_severities")
    assert "accuracy against severity" in str(figure)
    figure, summary = client.predict("mlp", api_name="/testtime_batch_size")
    assert "eval mode" in summary and "Batch of one" in summary and "Test accuracy against batch size" in str(figure)


def test_company_endpoint_on_an_example_and_on_no_image(client, server):
    figure, summary = client.predict("cnn", handle_file(example_path(server)), "cat", api_name="/testtime_company")
    assert "another answer in" in summary and "class cat" in summary
    figure, summary = client.predict("mlp", None, "(the class it looks least like)", api_name="/testtime_company")
    assert "copies of itself: another answer in" in summary


def test_own_batch_endpoint_uses_good_files_and_names_bad_ones(client, server, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    big = tmp_path / "big.jpg"
    Image.open(example_path(server)).resize((200, 150)).save(big)
    files = [handle_file(example_path(server)), handle_file(str(big)), handle_file(str(bad))]
    gallery, table, note = client.predict("cnn", files, 0, api_name="/testtime_upload")
    assert len(gallery) == 2 and len(table["data"]) == 2 and "broken.png" in note and "2 image(s) as one batch" in note


def test_bad_test_time_requests_get_bnapps_message_and_the_server_keeps_serving(client):
    assert "Unknown model pair" in refusal(lambda: client.predict("nope", "contrast", 3, 16,
                                                                  api_name="/testtime_shift"))
    table, *_ = client.predict("cnn", "contrast", 3, 16, api_name="/testtime_shift")
    assert "contrast, severity 3" in table

