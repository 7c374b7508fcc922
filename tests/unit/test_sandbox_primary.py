"""The sandbox primary's SIP responder (orchestrator/sandbox/primary.py) as RFC 3261 asks of a UAS answering
OPTIONS: every Via echoed (the top one with `received`, and `rport` filled when asked, RFC 3581), From, To with a
tag added, Call-ID, CSeq, no body; other methods 501; nothing for an ACK, a response or garbage."""

from __future__ import annotations

from orchestrator.sandbox.primary import Ports, probes, sip_response

SOURCE = ("127.0.0.1", 40123)


def request(method: str = "OPTIONS", via: str = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1;rport",
            extra: str = "", compact: bool = False) -> bytes:
    names = ("v", "f", "t", "i") if compact else ("Via", "From", "To", "Call-ID")
    lines = [f"{method} sip:127.0.0.1:5060 SIP/2.0", f"{names[0]}: {via}",
             "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKproxy", f"{names[1]}: <sip:a@x>;tag=abc",
             f"{names[2]}: <sip:b@y>{extra}", f"{names[3]}: call-1@x", f"CSeq: 42 {method}", "Content-Length: 0",
             "", ""]
    return "\r\n".join(lines).encode()


def headers(answer: bytes) -> list[str]:
    return answer.decode().split("\r\n")


def test_options_gets_a_200_echoing_the_dialog_headers_with_a_to_tag_and_no_body():
    """200 OK; both Vias in order, the top one with rport=<source port> and received; To gains a tag; sent to
    the source port (rport)."""
    answer, destination = sip_response(request(), SOURCE)
    lines = headers(answer)
    assert lines[0] == "SIP/2.0 200 OK" and destination == SOURCE
    assert lines[1] == "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1;rport=40123;received=127.0.0.1"
    assert lines[2] == "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKproxy"
    assert "From: <sip:a@x>;tag=abc" in lines and "Call-ID: call-1@x" in lines and "CSeq: 42 OPTIONS" in lines
    (to,) = [line for line in lines if line.startswith("To: ")]
    assert to.startswith("To: <sip:b@y>;tag=") and len(to) > len("To: <sip:b@y>;tag=")
    assert "Content-Length: 0" in lines and answer.endswith(b"\r\n\r\n")


def test_without_rport_the_answer_goes_to_the_sent_by_port_and_an_existing_to_tag_is_kept():
    """No rport: sent to the source address and the Via's sent-by port (RFC 3261 18.2.2); a To tag stays."""
    answer, destination = sip_response(request(via="SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx2",
                                               extra=";tag=keep"), SOURCE)
    assert destination == ("127.0.0.1", 5070)
    assert "To: <sip:b@y>;tag=keep" in headers(answer)


def test_compact_header_names_are_understood():
    """v/f/t/i (RFC 3261 7.3.3) are the same headers."""
    answer, _ = sip_response(request(compact=True), SOURCE)
    assert headers(answer)[0] == "SIP/2.0 200 OK" and "Call-ID: call-1@x" in headers(answer)


def test_other_methods_get_501_and_ack_responses_and_garbage_get_nothing():
    """INVITE: 501 Not Implemented; ACK, a response, a request missing its Call-ID, binary: no answer."""
    answer, _ = sip_response(request("INVITE"), SOURCE)
    assert headers(answer)[0] == "SIP/2.0 501 Not Implemented"
    assert sip_response(request("ACK"), SOURCE) is None
    assert sip_response(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", SOURCE) is None
    assert sip_response(request().replace(b"Call-ID: call-1@x\r\n", b""), SOURCE) is None
    assert sip_response(b"\xff\xfe\x00", SOURCE) is None


def test_the_probes_name_only_the_endpoints_served():
    """A responder for the secondary's SBC (SIP only) has one probe: trunk over UDP."""
    assert probes(Ports(sip=5060)) == [{"name": "trunk", "sip": "127.0.0.1:5060", "transport": "udp"}]
    assert [p["name"] for p in probes(Ports(1, 2, 3))] == ["sbc", "agents", "trunk"]
