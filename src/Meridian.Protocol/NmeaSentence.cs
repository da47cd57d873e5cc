namespace Meridian.Protocol;

/// <summary>
/// The sentences ntpd's NMEA driver (type 20) takes time from. The talker is ignored (<c>$GPRMC</c>, <c>$GNRMC</c>,
/// <c>$GLRMC</c> are all <see cref="Rmc"/>), since multi-constellation receivers change it; <see cref="Zdg"/> is
/// Accord's <c>$GPZDG</c>, which carries GPS time for the second after the next PPS edge.
/// </summary>
public enum NmeaKind
{
    Rmc,
    Gga,
    Gll,
    Zda,
    Zdg,
}

/// <summary>
/// What <see cref="NmeaSentence.TryParse"/> made of a line. The driver maps these onto ntpd's clock events:
/// <see cref="BadSyntax"/> and <see cref="BadChecksum"/> are <c>CEVNT_BADREPLY</c>, <see cref="BadTime"/> is
/// <c>CEVNT_BADTIME</c>, <see cref="BadDate"/> is <c>CEVNT_BADDATE</c>; <see cref="Empty"/> and
/// <see cref="Unsupported"/> are ignored silently as ntpd does.
/// </summary>
public enum NmeaStatus
{
    Ok,
    Empty,
    BadSyntax,
    BadChecksum,
    Unsupported,
    BadTime,
    BadDate,
}

/// <summary>UTC time of day as the receiver sent it; <see cref="Second"/> may be 60 during a leap second.</summary>
public readonly record struct NmeaTime(int Hour, int Minute, int Second, int Nanosecond);

/// <summary>
/// A calendar date as sent. RMC carries <c>ddmmyy</c> only, so <see cref="Year"/> is then 0..99 with
/// <see cref="TwoDigitYear"/> set, and the driver supplies the century from the system clock as ntpd does.
/// </summary>
public readonly record struct NmeaDate(int Year, int Month, int Day, bool TwoDigitYear);

/// <summary>
/// One NMEA 0183 sentence reduced to what a time source needs: which sentence, its time and date, whether the
/// receiver called its fix valid, and whether it carried a checksum. Parsing reads the bytes in place (parity bits
/// stripped on the fly) and never allocates; malformed input is a status, never an exception.
/// </summary>
public readonly record struct NmeaSentence(NmeaKind Kind, NmeaTime Time, NmeaDate? Date, bool Valid, bool HasChecksum)
{
    /// <summary>NMEA 0183 addresses are a two-letter talker and a three-letter sentence formatter, at least 5 chars.</summary>
    private const int MinimumAddressLength = 5;

    /// <summary>
    /// Parses one line (without or with its CR/LF; leading and trailing white space and parity bits are ignored).
    /// The framing follows NMEA 0183 §5.3 as ntpd's <c>field_init</c> checks it: <c>$</c>, an address of
    /// <c>[A-Z][A-Z0-9]{4,}</c>, a comma, the fields, and an optional <c>*HH</c> of two uppercase hex digits that is
    /// the XOR of every byte between <c>$</c> and <c>*</c>. A fix the receiver marks invalid still yields its time
    /// and date (status <see cref="NmeaStatus.Ok"/>, <see cref="Valid"/> false), so the driver can count it rejected.
    /// </summary>
    public static NmeaStatus TryParse(ReadOnlySpan<byte> line, out NmeaSentence sentence)
    {
        sentence = default;
        ReadOnlySpan<byte> text = Trim(line);
        if (text.IsEmpty)
        {
            return NmeaStatus.Empty;
        }

        NmeaStatus framing = Frame(text, out ReadOnlySpan<byte> body, out bool hasChecksum);
        if (framing != NmeaStatus.Ok)
        {
            return framing;
        }

        if (!TryGetKind(body, out NmeaKind kind))
        {
            return NmeaStatus.Unsupported;
        }

        // Field positions of NMEA 0183 v2.x/3.x as ntpd's nmea_receive reads them (field 0 is the address).
        int timeField = kind == NmeaKind.Gll ? 5 : 1;
        if (!TryParseTime(Field(body, timeField), out NmeaTime time))
        {
            return NmeaStatus.BadTime;
        }

        NmeaDate? date = null;
        bool valid;
        switch (kind)
        {
            case NmeaKind.Rmc:
                valid = FirstIs(Field(body, 2), (byte)'A');
                if (!TryParseShortDate(Field(body, 9), out NmeaDate shortDate))
                {
                    return NmeaStatus.BadDate;
                }

                date = shortDate;
                break;
            case NmeaKind.Gga:
                // Fix quality 0 is "invalid"; 1..8 are fixes of some kind (ntpd's parse_qual(.., '0', inverted)).
                ReadOnlySpan<byte> quality = Field(body, 6);
                valid = !quality.IsEmpty && !FirstIs(quality, (byte)'0');
                break;
            case NmeaKind.Gll:
                valid = FirstIs(Field(body, 6), (byte)'A');
                break;
            default:
                // ZDA has no status field: a receiver sends it only with a time it trusts. ZDG is the same shape.
                valid = true;
                if (!TryParseLongDate(Field(body, 2), Field(body, 3), Field(body, 4), out NmeaDate longDate))
                {
                    return NmeaStatus.BadDate;
                }

                date = longDate;
                break;
        }

        sentence = new NmeaSentence(kind, time, date, valid, hasChecksum);
        return NmeaStatus.Ok;
    }

    /// <summary>
    /// ntpd's <c>flag4</c>: copies the line (trimmed, parity stripped) into <paramref name="destination"/> with the
    /// latitude and longitude fields overwritten by <c>_</c> (the <c>.</c> kept) and the checksum digits too, since
    /// the timecode is visible to anyone with <c>ntpq -c clockvar</c> and lands in clockstats. The fields are
    /// ntpd's: RMC 3–6, GGA 2 and 4, GLL 1 and 3; other sentences carry no position and are copied unchanged.
    /// A destination shorter than the line gets its first part (ntpd truncates <c>a_lastcode</c> the same way).
    /// Returns the number of bytes written.
    /// </summary>
    public static int Obscure(ReadOnlySpan<byte> line, Span<byte> destination)
    {
        ReadOnlySpan<byte> text = Trim(line);
        int length = Math.Min(text.Length, destination.Length);
        Span<byte> output = destination[..length];
        for (int i = 0; i < length; i++)
        {
            output[i] = At(text, i);
        }

        int fieldA;
        int fieldB;
        int fieldC = -1;
        int fieldD = -1;
        switch (AddressKind(text))
        {
            case NmeaKind.Rmc:
                (fieldA, fieldB, fieldC, fieldD) = (3, 4, 5, 6);
                break;
            case NmeaKind.Gga:
                (fieldA, fieldB) = (2, 4);
                break;
            case NmeaKind.Gll:
                (fieldA, fieldB) = (1, 3);
                break;
            default:
                return length;
        }

        int field = 0;
        for (int i = 0; i < text.Length; i++)
        {
            byte c = At(text, i);
            if (c == (byte)'*')
            {
                break;
            }

            if (c == (byte)',')
            {
                field++;
                if (field == fieldA || field == fieldB || field == fieldC || field == fieldD)
                {
                    Wipe(text, output, i + 1);
                }
            }
        }

        if (text.Length >= 4 && At(text, text.Length - 3) == (byte)'*')
        {
            Wipe(text, output, text.Length - 2);
        }

        return length;
    }

    /// <summary>Overwrites one field of the output from <paramref name="start"/> up to the next ',' or '*'.</summary>
    private static void Wipe(ReadOnlySpan<byte> text, Span<byte> output, int start)
    {
        for (int i = start; i < text.Length; i++)
        {
            byte c = At(text, i);
            if (c is (byte)',' or (byte)'*')
            {
                return;
            }

            if (c != (byte)'.' && i < output.Length)
            {
                output[i] = (byte)'_';
            }
        }
    }

    /// <summary>
    /// Checks the framing and the checksum. <paramref name="body"/> is what lies between '$' and '*' (or the end):
    /// the address and the fields.
    /// </summary>
    private static NmeaStatus Frame(ReadOnlySpan<byte> text, out ReadOnlySpan<byte> body, out bool hasChecksum)
    {
        body = default;
        hasChecksum = false;
        if (At(text, 0) != (byte)'$' || text.Length < 2 || !IsUpper(At(text, 1)))
        {
            return NmeaStatus.BadSyntax;
        }

        byte sum = 0;
        int i = 1;
        while (i < text.Length && (IsUpper(At(text, i)) || IsDigit(At(text, i))))
        {
            sum ^= At(text, i++);
        }

        if (i >= text.Length || At(text, i) != (byte)',' || i - 1 < MinimumAddressLength)
        {
            return NmeaStatus.BadSyntax;
        }

        while (i < text.Length && At(text, i) != (byte)'*')
        {
            sum ^= At(text, i++);
        }

        body = text[1..i];
        if (i == text.Length)
        {
            return NmeaStatus.Ok;
        }

        if (i != text.Length - 3 || !TryHex(At(text, i + 1), out int high) || !TryHex(At(text, i + 2), out int low))
        {
            return NmeaStatus.BadSyntax;
        }

        hasChecksum = true;
        return ((high << 4) | low) == sum ? NmeaStatus.Ok : NmeaStatus.BadChecksum;
    }

    /// <summary>The sentence of a framed body: a five-character address whose last three name it.</summary>
    private static bool TryGetKind(ReadOnlySpan<byte> body, out NmeaKind kind)
    {
        kind = default;
        return body.Length > MinimumAddressLength && At(body, MinimumAddressLength) == (byte)','
            && TryFormatter(At(body, 2), At(body, 3), At(body, 4), out kind);
    }

    /// <summary>The sentence a line claims to be, from its address alone (for <see cref="Obscure"/>); null if none.</summary>
    private static NmeaKind? AddressKind(ReadOnlySpan<byte> text)
    {
        if (text.Length <= MinimumAddressLength + 1 || At(text, 0) != (byte)'$' || !IsUpper(At(text, 1)) || At(text, MinimumAddressLength + 1) != (byte)',')
        {
            return null;
        }

        for (int i = 2; i <= MinimumAddressLength; i++)
        {
            if (!IsUpper(At(text, i)) && !IsDigit(At(text, i)))
            {
                return null;
            }
        }

        return TryFormatter(At(text, 3), At(text, 4), At(text, 5), out NmeaKind kind) ? kind : null;
    }

    private static bool TryFormatter(byte a, byte b, byte c, out NmeaKind kind)
    {
        (bool known, kind) = (a, b, c) switch
        {
            ((byte)'R', (byte)'M', (byte)'C') => (true, NmeaKind.Rmc),
            ((byte)'G', (byte)'G', (byte)'A') => (true, NmeaKind.Gga),
            ((byte)'G', (byte)'L', (byte)'L') => (true, NmeaKind.Gll),
            ((byte)'Z', (byte)'D', (byte)'A') => (true, NmeaKind.Zda),
            ((byte)'Z', (byte)'D', (byte)'G') => (true, NmeaKind.Zdg),
            _ => (false, default(NmeaKind)),
        };
        return known;
    }

    /// <summary>Field <paramref name="index"/> of the body (0 is the address); empty when the sentence is shorter.</summary>
    private static ReadOnlySpan<byte> Field(ReadOnlySpan<byte> body, int index)
    {
        int start = 0;
        for (int i = 0; i < body.Length; i++)
        {
            if (At(body, i) != (byte)',')
            {
                continue;
            }

            if (index == 0)
            {
                return body[start..i];
            }

            index--;
            start = i + 1;
        }

        return index == 0 ? body[start..] : default;
    }

    /// <summary>
    /// <c>hhmmss[.f]</c>: exactly six digits, then optionally a point and a fraction of which the first nine digits
    /// count. Seconds up to 60 admit the leap second UTC receivers announce as 23:59:60.
    /// </summary>
    private static bool TryParseTime(ReadOnlySpan<byte> field, out NmeaTime time)
    {
        time = default;
        if (field.Length < 6 || !TryTwoDigits(field, 0, out int hour) || !TryTwoDigits(field, 2, out int minute) || !TryTwoDigits(field, 4, out int second))
        {
            return false;
        }

        int nanosecond = 0;
        if (field.Length > 6)
        {
            if (At(field, 6) != (byte)'.')
            {
                return false;
            }

            int digits = 0;
            for (int i = 7; i < field.Length; i++)
            {
                byte c = At(field, i);
                if (!IsDigit(c))
                {
                    return false;
                }

                if (digits < 9)
                {
                    nanosecond = nanosecond * 10 + (c - '0');
                    digits++;
                }
            }

            for (; digits < 9; digits++)
            {
                nanosecond *= 10;
            }
        }

        if (hour > 23 || minute > 59 || second > 60)
        {
            return false;
        }

        time = new NmeaTime(hour, minute, second, nanosecond);
        return true;
    }

    /// <summary>RMC's <c>ddmmyy</c>: exactly six digits.</summary>
    private static bool TryParseShortDate(ReadOnlySpan<byte> field, out NmeaDate date)
    {
        date = default;
        if (field.Length != 6 || !TryTwoDigits(field, 0, out int day) || !TryTwoDigits(field, 2, out int month) || !TryTwoDigits(field, 4, out int year)
            || day is < 1 or > 31 || month is < 1 or > 12)
        {
            return false;
        }

        date = new NmeaDate(year, month, day, TwoDigitYear: true);
        return true;
    }

    /// <summary>
    /// ZDA's and ZDG's <c>dd,mm,yyyy</c> in three fields; a year before 1981 (before GPS) is a receiver that has not
    /// found the time yet.
    /// </summary>
    private static bool TryParseLongDate(ReadOnlySpan<byte> dayField, ReadOnlySpan<byte> monthField, ReadOnlySpan<byte> yearField, out NmeaDate date)
    {
        date = default;
        if (dayField.Length is < 1 or > 2 || monthField.Length is < 1 or > 2 || yearField.Length != 4
            || !TryNumber(dayField, out int day) || !TryNumber(monthField, out int month) || !TryNumber(yearField, out int year)
            || day is < 1 or > 31 || month is < 1 or > 12 || year <= 1980)
        {
            return false;
        }

        date = new NmeaDate(year, month, day, TwoDigitYear: false);
        return true;
    }

    private static bool TryTwoDigits(ReadOnlySpan<byte> field, int at, out int value)
    {
        byte tens = At(field, at);
        byte ones = At(field, at + 1);
        value = (tens - '0') * 10 + (ones - '0');
        return IsDigit(tens) && IsDigit(ones);
    }

    private static bool TryNumber(ReadOnlySpan<byte> field, out int value)
    {
        value = 0;
        for (int i = 0; i < field.Length; i++)
        {
            byte c = At(field, i);
            if (!IsDigit(c))
            {
                return false;
            }

            value = value * 10 + (c - '0');
        }

        return true;
    }

    private static bool TryHex(byte c, out int value)
    {
        // NMEA 0183 §5.3.1 transmits the checksum in uppercase; ntpd rejects lowercase, and so do we.
        value = c switch
        {
            >= (byte)'0' and <= (byte)'9' => c - '0',
            >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }

    private static bool FirstIs(ReadOnlySpan<byte> field, byte expected) => !field.IsEmpty && At(field, 0) == expected;

    /// <summary>
    /// Drops what surrounds the sentence on a serial line: CR/LF, spaces, NULs and other control bytes, with or
    /// without a parity bit (a 7E1 line read as 8N1 sets bit 7).
    /// </summary>
    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> line)
    {
        int start = 0;
        int end = line.Length;
        while (start < end && At(line, start) <= (byte)' ')
        {
            start++;
        }

        while (end > start && At(line, end - 1) <= (byte)' ')
        {
            end--;
        }

        return line[start..end];
    }

    /// <summary>A byte with its parity bit stripped: NMEA 0183 is 7-bit ASCII.</summary>
    private static byte At(ReadOnlySpan<byte> s, int i) => (byte)(s[i] & 0x7F);

    private static bool IsUpper(byte c) => c is >= (byte)'A' and <= (byte)'Z';

    private static bool IsDigit(byte c) => c is >= (byte)'0' and <= (byte)'9';
}
