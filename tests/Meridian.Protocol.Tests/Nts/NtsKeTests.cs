using System.Buffers;
using Meridian.Protocol.Nts;

namespace Meridian.Protocol.Tests.Nts;

public sealed class NtsKeTests
{
    // NPN [NTPv4] critical, AEAD [15, 30] critical, End of Message.
    private const string TypicalRequestHex = "800100020000" + "80040004000F001E" + "80000000";

    // NPN [NTPv4], AEAD [15], two 4-octet cookies (not critical), End of Message.
    private const string TypicalResponseHex = "800100020000" + "80040002000F" + "0005000401020304" + "0005000405060708" + "80000000";

    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    private static string ToHex(byte[] bytes) => Convert.ToHexString(bytes);

    [Fact]
    public void A_typical_request_encodes_to_exact_octets()
    {
        var request = new NtsKeRequest { NextProtocols = [NtsKe.ProtocolNtpv4], AeadAlgorithms = [NtsKe.AeadAesSivCmac256, NtsKe.AeadAes128GcmSiv] };
        Assert.Equal(TypicalRequestHex, ToHex(request.Encode()));
    }

    [Fact]
    public void A_request_with_server_and_port_encodes_them_non_critical()
    {
        var request = new NtsKeRequest { Server = "ntp.example", Port = 123 };
        Assert.Equal("800100020000" + "80040002000F" + "0006000B" + "6E74702E6578616D706C65" + "00070002007B" + "80000000", ToHex(request.Encode()));
    }

    [Fact]
    public void A_typical_response_encodes_to_exact_octets()
    {
        var response = new NtsKeResponse
        {
            NextProtocols = [NtsKe.ProtocolNtpv4],
            AeadAlgorithm = NtsKe.AeadAesSivCmac256,
            Cookies = [[1, 2, 3, 4], [5, 6, 7, 8]],
        };
        Assert.Equal(TypicalResponseHex, ToHex(response.Encode()));
    }

    [Fact]
    public void A_response_with_server_port_and_warning_encodes_them_critical()
    {
        var response = new NtsKeResponse
        {
            NextProtocols = [NtsKe.ProtocolNtpv4], AeadAlgorithm = 15, Server = "192.0.2.1", Port = 4123, Warning = 0x8001, Cookies = [[9, 9, 9, 9]],
        };
        Assert.Equal(
            "800100020000" + "800300028001" + "80040002000F" + "80060009" + "3139322E302E322E31" + "80070002101B" + "0005000409090909" + "80000000",
            ToHex(response.Encode()));
    }

    [Fact]
    public void An_error_response_is_error_then_end_of_message()
    {
        Assert.Equal("800200020001" + "80000000", ToHex(NtsKeResponse.EncodeError(NtsKeErrorCode.BadRequest)));
        Assert.Equal("800200020000" + "80000000", ToHex(NtsKeResponse.EncodeError(NtsKeErrorCode.UnrecognizedCriticalRecord)));
    }

    [Fact]
    public void An_empty_aead_record_is_sent_when_ntpv4_is_chosen_without_a_common_algorithm()
    {
        var response = new NtsKeResponse { NextProtocols = [NtsKe.ProtocolNtpv4] };
        Assert.Equal("800100020000" + "80040000" + "80000000", ToHex(response.Encode()));
        Assert.True(NtsKeResponse.TryParse(response.Encode(), out NtsKeResponse? parsed).IsOk);
        Assert.Null(parsed!.AeadAlgorithm);
        Assert.False(parsed.IsUsableForNtpv4);
    }

    [Fact]
    public void The_typical_request_parses()
    {
        NtsKeParseResult result = NtsKeRequest.TryParse(Hex(TypicalRequestHex), out NtsKeRequest? request);
        Assert.True(result.IsOk, result.ToString());
        Assert.Null(result.ServerError);
        Assert.Equal([(ushort)0], request!.NextProtocols);
        Assert.Equal([(ushort)15, (ushort)30], request.AeadAlgorithms);
        Assert.Null(request.Server);
        Assert.Null(request.Port);
    }

    [Fact]
    public void Requests_round_trip()
    {
        var original = new NtsKeRequest { NextProtocols = [0, 0x8001], AeadAlgorithms = [30, 15, 17], Server = "2001:db8::1", Port = 1123 };
        byte[] bytes = original.Encode();
        Assert.True(NtsKeRequest.TryParse(bytes, out NtsKeRequest? parsed).IsOk);
        Assert.Equal(original.NextProtocols, parsed!.NextProtocols);
        Assert.Equal(original.AeadAlgorithms, parsed.AeadAlgorithms);
        Assert.Equal("2001:db8::1", parsed.Server);
        Assert.Equal((ushort)1123, parsed.Port);
        Assert.Equal(bytes, parsed.Encode());
    }

    [Fact]
    public void Responses_round_trip()
    {
        var cookies = Enumerable.Range(0, 8).Select(i => Enumerable.Repeat((byte)i, 100).ToArray()).ToArray();
        var original = new NtsKeResponse { NextProtocols = [0], AeadAlgorithm = 15, Cookies = cookies, Server = "ntp.example", Port = 123 };
        byte[] bytes = original.Encode();
        Assert.True(NtsKeResponse.TryParse(bytes, out NtsKeResponse? parsed).IsOk);
        Assert.Equal([(ushort)0], parsed!.NextProtocols);
        Assert.Equal((ushort)15, parsed.AeadAlgorithm);
        Assert.Equal(cookies, parsed.Cookies);
        Assert.Equal("ntp.example", parsed.Server);
        Assert.Equal((ushort)123, parsed.Port);
        Assert.Null(parsed.Error);
        Assert.True(parsed.IsUsableForNtpv4);
        Assert.Equal(bytes, parsed.Encode());
    }

    [Fact]
    public void A_response_is_consistent_only_with_a_request_that_offered_its_choices()
    {
        var request = new NtsKeRequest { AeadAlgorithms = [15, 30] };
        Assert.True(new NtsKeResponse { NextProtocols = [0], AeadAlgorithm = 30 }.IsConsistentWith(request));
        Assert.True(new NtsKeResponse { NextProtocols = [0] }.IsConsistentWith(request));
        Assert.False(new NtsKeResponse { NextProtocols = [0], AeadAlgorithm = 17 }.IsConsistentWith(request));
        Assert.False(new NtsKeResponse { NextProtocols = [0x8001], AeadAlgorithm = 15 }.IsConsistentWith(request));
    }

    [Fact]
    public void An_error_response_parses_without_negotiation()
    {
        NtsKeParseResult result = NtsKeResponse.TryParse(Hex("800200020002" + "80000000"), out NtsKeResponse? response);
        Assert.True(result.IsOk);
        Assert.Equal(NtsKeErrorCode.InternalServerError, response!.Error);
        Assert.False(response.IsUsableForNtpv4);
    }

    public static TheoryData<string, NtsKeProblem, ushort, NtsKeErrorCode?> BadRequests => new()
    {
        // End of Message must be last (RFC 8915 §4.1.1).
        { TypicalRequestHex + "80000000", NtsKeProblem.RecordAfterEndOfMessage, 0, NtsKeErrorCode.BadRequest },
        { TypicalRequestHex + "00", NtsKeProblem.RecordAfterEndOfMessage, 0, NtsKeErrorCode.BadRequest },
        // Unknown critical record: Error 0 (RFC 8915 §4).
        { "C12300020000" + TypicalRequestHex, NtsKeProblem.UnrecognizedCriticalRecord, 0x4123, NtsKeErrorCode.UnrecognizedCriticalRecord },
        { "80080000" + TypicalRequestHex, NtsKeProblem.UnrecognizedCriticalRecord, 8, NtsKeErrorCode.UnrecognizedCriticalRecord },
        // Critical bit required on End of Message, Next Protocol, Error and Warning.
        { "000100020000" + "80040002000F" + "80000000", NtsKeProblem.CriticalBitMissing, 1, NtsKeErrorCode.BadRequest },
        { "800100020000" + "80040002000F" + "00000000", NtsKeProblem.CriticalBitMissing, 0, NtsKeErrorCode.BadRequest },
        { "000200020000" + TypicalRequestHex, NtsKeProblem.CriticalBitMissing, 2, NtsKeErrorCode.BadRequest },
        { "000300020000" + TypicalRequestHex, NtsKeProblem.CriticalBitMissing, 3, NtsKeErrorCode.BadRequest },
        // Clients must not send Error or Warning (RFC 8915 §4.1.3, §4.1.4).
        { "800200020001" + TypicalRequestHex, NtsKeProblem.UnexpectedRecord, 2, NtsKeErrorCode.BadRequest },
        { "800300020001" + TypicalRequestHex, NtsKeProblem.UnexpectedRecord, 3, NtsKeErrorCode.BadRequest },
        // Exactly one Next Protocol record, with at least one protocol (RFC 8915 §4.1.2).
        { "80040002000F" + "80000000", NtsKeProblem.MissingNextProtocol, 1, NtsKeErrorCode.BadRequest },
        { "800100020000" + "800100020000" + "80040002000F" + "80000000", NtsKeProblem.DuplicateRecord, 1, NtsKeErrorCode.BadRequest },
        { "80010000" + "80040002000F" + "80000000", NtsKeProblem.BadNextProtocolList, 1, NtsKeErrorCode.BadRequest },
        { "80010003000000" + "80040002000F" + "80000000", NtsKeProblem.BadBodyLength, 1, NtsKeErrorCode.BadRequest },
        // NTPv4 needs exactly one AEAD record with at least one algorithm (RFC 8915 §4.1.5).
        { "800100020000" + "80000000", NtsKeProblem.MissingAeadAlgorithm, 4, NtsKeErrorCode.BadRequest },
        { "800100020000" + "80040000" + "80000000", NtsKeProblem.BadAeadList, 4, NtsKeErrorCode.BadRequest },
        { "800100020000" + "80040002000F" + "00040002001E" + "80000000", NtsKeProblem.DuplicateRecord, 4, NtsKeErrorCode.BadRequest },
        // Body lengths of fixed-size records.
        { "800100020000" + "80040002000F" + "80000001" + "00", NtsKeProblem.BadBodyLength, 0, NtsKeErrorCode.BadRequest },
        { "800100020000" + "80040002000F" + "00070003007B00" + "80000000", NtsKeProblem.BadBodyLength, 7, NtsKeErrorCode.BadRequest },
        { "800100020000" + "80040002000F" + "00070002007B" + "00070002007C" + "80000000", NtsKeProblem.DuplicateRecord, 7, NtsKeErrorCode.BadRequest },
        // Server names are printable ASCII (RFC 8915 §4.1.7).
        { "800100020000" + "80040002000F" + "00060003" + "612062" + "80000000", NtsKeProblem.BadServerName, 6, NtsKeErrorCode.BadRequest },
        { "800100020000" + "80040002000F" + "00060000" + "80000000", NtsKeProblem.BadServerName, 6, NtsKeErrorCode.BadRequest },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void A_request_breaking_a_rule_gets_the_right_error(string hex, NtsKeProblem problem, ushort recordType, NtsKeErrorCode? error)
    {
        NtsKeParseResult result = NtsKeRequest.TryParse(Hex(hex), out NtsKeRequest? request);
        Assert.Equal(problem, result.Problem);
        Assert.Equal(recordType, result.RecordType);
        Assert.Equal(error, result.ServerError);
        Assert.Null(request);
    }

    [Fact]
    public void Unknown_non_critical_records_are_ignored_and_other_protocols_need_no_aead()
    {
        Assert.True(NtsKeRequest.TryParse(Hex("41230003AABBCC" + TypicalRequestHex), out NtsKeRequest? request).IsOk);
        Assert.Equal([(ushort)15, (ushort)30], request!.AeadAlgorithms);
        Assert.True(NtsKeRequest.TryParse(Hex("800100028001" + "80000000"), out request).IsOk);
        Assert.Equal([(ushort)0x8001], request!.NextProtocols);
        Assert.Empty(request.AeadAlgorithms);
    }

    [Fact]
    public void A_request_over_the_length_limit_is_too_long_even_before_it_is_complete()
    {
        byte[] big = [.. Hex("0100" + "4000"), .. new byte[0x4000]];
        NtsKeParseResult result = NtsKeRequest.TryParse(big, out _);
        Assert.Equal(NtsKeProblem.TooLong, result.Problem);
        Assert.Equal(NtsKeErrorCode.BadRequest, result.ServerError);
        Assert.Equal(NtsKeProblem.TooLong, NtsKeRequest.TryParse(big.AsSpan(0, 8), out _).Problem);
        Assert.Equal(NtsKeFrameStatus.TooLong, NtsKeRecordReader.Frame(big.AsSpan(0, 8), 16 * 1024, out _));
        Assert.True(NtsKeRequest.TryParse([.. Hex("01000100"), .. new byte[0x100], .. Hex(TypicalRequestHex)], new NtsKeLimits { MaxMessageLength = 1024 }, out _).IsOk);
    }

    public static TheoryData<string, NtsKeProblem, ushort> BadResponses => new()
    {
        { "80040002000F" + "0005000401020304" + "80000000", NtsKeProblem.MissingNextProtocol, 1 },
        { "800100020000" + "0005000401020304" + "80000000", NtsKeProblem.MissingAeadAlgorithm, 4 },
        { "8001000400000001" + "80040002000F" + "80000000", NtsKeProblem.BadNextProtocolList, 1 },
        { "800100020000" + "80040004000F001E" + "80000000", NtsKeProblem.BadAeadList, 4 },
        { "800100020000" + "80040002000F" + "00050000" + "80000000", NtsKeProblem.BadCookie, 5 },
        { "800100020000" + "80040002000F" + "C0000000" + "80000000", NtsKeProblem.UnrecognizedCriticalRecord, 0x4000 },
        { "800100020000" + "80040002000F" + "000300020000" + "80000000", NtsKeProblem.CriticalBitMissing, 3 },
        { "800100020000" + "800200020001" + "800200020001" + "80000000", NtsKeProblem.DuplicateRecord, 2 },
        { TypicalResponseHex + "80000000", NtsKeProblem.RecordAfterEndOfMessage, 0 },
    };

    [Theory]
    [MemberData(nameof(BadResponses))]
    public void A_response_breaking_a_rule_is_rejected(string hex, NtsKeProblem problem, ushort recordType)
    {
        NtsKeParseResult result = NtsKeResponse.TryParse(Hex(hex), out NtsKeResponse? response);
        Assert.Equal(problem, result.Problem);
        Assert.Equal(recordType, result.RecordType);
        Assert.Null(response);
    }

    [Fact]
    public void Cookie_count_and_length_are_bounded()
    {
        byte[] Response(int count, int length) => new NtsKeResponse
        {
            NextProtocols = [0], AeadAlgorithm = 15, Cookies = Enumerable.Range(0, count).Select(_ => new byte[length]).ToArray(),
        }.Encode();

        Assert.True(NtsKeResponse.TryParse(Response(8, 1024), out _).IsOk);
        Assert.Equal(new NtsKeParseResult(NtsKeProblem.TooManyCookies, 5), NtsKeResponse.TryParse(Response(9, 100), out _));
        Assert.Equal(new NtsKeParseResult(NtsKeProblem.BadCookie, 5), NtsKeResponse.TryParse(Response(1, 1025), out _));
        Assert.True(NtsKeResponse.TryParse(Response(9, 100), new NtsKeLimits { MaxCookies = 16 }, out _).IsOk);
    }

    [Fact]
    public void Every_split_of_a_valid_message_is_incomplete_until_end_of_message()
    {
        byte[] request = new NtsKeRequest { Server = "ntp.example", Port = 123 }.Encode();
        byte[] response = Hex(TypicalResponseHex);
        for (int split = 0; split < request.Length; split++)
        {
            Assert.Equal(NtsKeProblem.Incomplete, NtsKeRequest.TryParse(request.AsSpan(0, split), out _).Problem);
            Assert.Null(NtsKeRequest.TryParse(request.AsSpan(0, split), out _).ServerError);
            Assert.Equal(NtsKeFrameStatus.Incomplete, NtsKeRecordReader.Frame(request.AsSpan(0, split), 1024, out _));
        }

        for (int split = 0; split < response.Length; split++)
        {
            Assert.Equal(NtsKeProblem.Incomplete, NtsKeResponse.TryParse(response.AsSpan(0, split), out _).Problem);
            Assert.Equal(NtsKeFrameStatus.Incomplete, NtsKeRecordReader.Frame(response.AsSpan(0, split), 65536, out _));
        }

        Assert.Equal(NtsKeFrameStatus.Complete, NtsKeRecordReader.Frame(request, 1024, out int length));
        Assert.Equal(request.Length, length);
        Assert.Equal(NtsKeFrameStatus.Complete, NtsKeRecordReader.Frame([.. response, 0x80, 0x01], 65536, out length));
        Assert.Equal(response.Length, length);
    }

    [Fact]
    public void The_reader_yields_records_and_tells_partial_from_finished()
    {
        byte[] bytes = Hex("C0010003AABBCC" + "00050000" + "8000");
        var reader = new NtsKeRecordReader(bytes);
        Assert.Equal(NtsKeReadStatus.Record, reader.Read(out NtsKeRecord record));
        Assert.True(record.Critical);
        Assert.Equal(0x4001, record.Type);
        Assert.Equal(Hex("AABBCC"), record.Body.ToArray());
        Assert.Equal(7, record.Length);
        Assert.Equal(NtsKeReadStatus.Record, reader.Read(out record));
        Assert.False(record.Critical);
        Assert.Equal((ushort)NtsKeRecordType.NewCookieForNtpv4, record.Type);
        Assert.True(record.Body.IsEmpty);
        Assert.Equal(11, reader.Consumed);
        Assert.Equal(NtsKeReadStatus.Incomplete, reader.Read(out _));
        Assert.Equal(11, reader.Consumed);

        var exact = new NtsKeRecordReader(bytes.AsSpan(0, 11));
        Assert.Equal(NtsKeReadStatus.Record, exact.Read(out _));
        Assert.Equal(NtsKeReadStatus.Record, exact.Read(out _));
        Assert.Equal(NtsKeReadStatus.End, exact.Read(out _));

        var limited = new NtsKeRecordReader(bytes, maxLength: 10);
        Assert.Equal(NtsKeReadStatus.Record, limited.Read(out _));
        Assert.Equal(NtsKeReadStatus.TooLong, limited.Read(out _));
    }

    [Fact]
    public void The_writer_writes_exact_records_and_refuses_what_does_not_fit()
    {
        var buffer = new byte[20];
        var writer = new NtsKeRecordWriter(buffer);
        Assert.True(writer.WriteUInt16List(4, critical: true, [15, 30]));
        Assert.True(writer.WriteUInt16(7, critical: false, 4460));
        Assert.False(writer.Write(5, critical: false, new byte[3]));
        Assert.True(writer.WriteEndOfMessage());
        Assert.False(writer.Write(0x8000, critical: false, []));
        Assert.Equal("80040004000F001E" + "00070002116C" + "80000000", ToHex(writer.WrittenSpan.ToArray()));
        Assert.Equal(18, writer.Written);

        var output = new ArrayBufferWriter<byte>();
        NtsKeRecordWriter.Write(output, 5, critical: false, [1, 2, 3]);
        NtsKeRecordWriter.Write(output, 0, critical: true, []);
        Assert.Equal("00050003010203" + "80000000", ToHex(output.WrittenSpan.ToArray()));
    }

    [Fact]
    public void The_exporter_context_is_protocol_aead_and_direction()
    {
        var context = new byte[NtsKe.ExporterContextLength];
        NtsKe.WriteExporterContext(context, NtsKe.ProtocolNtpv4, NtsKe.AeadAesSivCmac256, serverToClient: false);
        Assert.Equal("0000000F00", ToHex(context));
        NtsKe.WriteExporterContext(context, NtsKe.ProtocolNtpv4, NtsKe.AeadAes128GcmSiv, serverToClient: true);
        Assert.Equal("0000001E01", ToHex(context));
    }

    [Fact]
    public void Encoding_refuses_a_server_name_that_is_not_printable_ascii()
    {
        Assert.Throws<ArgumentException>(() => new NtsKeRequest { Server = "a b" }.Encode());
        Assert.Throws<ArgumentException>(() => new NtsKeRequest { Server = "bücher.example" }.Encode());
        Assert.Throws<ArgumentException>(() => new NtsKeResponse { NextProtocols = [0], Server = "" }.Encode());
    }
}
