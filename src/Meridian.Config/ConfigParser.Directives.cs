using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Meridian.Config;

/// <summary>The directives beyond associations: access control, broadcast, keys, monitoring, refclocks (NTPsec form).</summary>
public sealed partial class ConfigParser
{
    private static readonly Dictionary<string, RestrictFlags> RestrictFlagNames = new(StringComparer.Ordinal)
    {
        ["ignore"] = RestrictFlags.Ignore, ["kod"] = RestrictFlags.Kod, ["limited"] = RestrictFlags.Limited,
        ["lowpriotrap"] = RestrictFlags.LowPriorityTrap, ["nomodify"] = RestrictFlags.NoModify, ["noquery"] = RestrictFlags.NoQuery,
        ["nopeer"] = RestrictFlags.NoPeer, ["noserve"] = RestrictFlags.NoServe, ["notrap"] = RestrictFlags.NoTrap,
        ["notrust"] = RestrictFlags.NoTrust, ["ntpport"] = RestrictFlags.NtpPort, ["version"] = RestrictFlags.Version,
        ["nomrulist"] = RestrictFlags.NoMruList, ["noepeer"] = RestrictFlags.NoEphemeralPeer, ["mssntp"] = RestrictFlags.MsSntp,
    };

    /// <summary>Restrict flags and options read but not acted on in this build, with the reason.</summary>
    private static readonly Dictionary<string, string> RestrictFlagsNotInEffect = new(StringComparer.Ordinal)
    {
        ["nomrulist"] = "the MRU list is READ_MRU's with a nonce; it is not withheld per address",
        ["noepeer"] = "ephemeral peers are refused by nopeer and by enable auth",
        ["mssntp"] = "Microsoft's MS-SNTP signing is not supported",
        ["ippeerlimit"] = "passive peers are limited to 64 in all, not per address",
        ["serverresponse"] = "replies are never fuzzed",
    };

    private static readonly Dictionary<string, (double Min, double Max)> DiscardRanges = new(StringComparer.Ordinal)
    {
        ["average"] = (0, 16), ["minimum"] = (0, 16), ["monitor"] = (0, 1e6),
    };

    private static readonly Dictionary<string, (double Min, double Max)> MruRanges = new(StringComparer.Ordinal)
    {
        ["maxdepth"] = (0, 1e8), ["maxmem"] = (0, 1e8), ["mindepth"] = (0, 1e8), ["maxage"] = (0, 1e8),
        ["minage"] = (0, 1e8), ["initalloc"] = (0, 1e8), ["initmem"] = (0, 1e8), ["incalloc"] = (0, 1e8), ["incmem"] = (0, 1e8),
    };

    /// <summary><c>rlimit memlock N stacksize N filenum N</c> (MB, 4 KiB pages, descriptors; -1 for memlock: none).</summary>
    private static readonly Dictionary<string, (double Min, double Max)> RlimitRanges = new(StringComparer.Ordinal)
    {
        ["memlock"] = (-1, 1e6), ["stacksize"] = (0, 1e6), ["filenum"] = (0, 1e7),
    };

    private void ApplyDiscard(LineReader line, ConfigToken option, double value)
    {
        string word = option.Text.ToLowerInvariant();
        if (word == "monitor")
        {
            line.NotInEffect(option, "discard monitor", "the MRU list reuses its least recent entries instead");
        }

        _config.Discard = word switch
        {
            "average" => _config.Discard with { Average = (int)value },
            "minimum" => _config.Discard with { Minimum = value },
            _ => _config.Discard with { Monitor = value },
        };
    }

    private void ApplyMru(LineReader line, ConfigToken option, double value)
    {
        string word = option.Text.ToLowerInvariant();
        MruOptions m = _config.Mru;
        switch (word)
        {
            case "maxdepth": _config.Mru = m with { MaxDepth = (int)Math.Min(value, int.MaxValue) }; return;
            case "maxmem": _config.Mru = m with { MaxMemory = value }; return;
            case "mindepth": _config.Mru = m with { MinDepth = (int)Math.Min(value, int.MaxValue) }; return;
            case "maxage": _config.Mru = m with { MaxAge = value }; return;
        }

        line.NotInEffect(option, $"mru {word}", word == "minage" ? "entries are reused by maxage and mindepth" : "the MRU list allocates as it grows");
        _config.Mru = word switch
        {
            "minage" => m with { MinAge = value },
            "initalloc" or "initmem" => m with { InitialAllocation = value },
            _ => m with { IncrementAllocation = value },
        };
    }

    /// <summary>ntpd 4.2.8's <c>device 127.127.t.u timedata PATH [ppsdata PATH]</c>: a reference clock's device paths.</summary>
    private void ParseDevice(LineReader line)
    {
        ConfigToken? address = line.RequireWord("a reference clock address (127.127.t.u)");
        if (address is null)
        {
            return;
        }

        if (!RefclockAddress.TryParse(address.Value.Text, out RefclockAddress clock))
        {
            line.Error(address.Value, $"'{address.Value.Text}' is not a reference clock address (127.127.t.u)");
            return;
        }

        FudgeConfig fudge = _config.Fudges.TryGetValue(clock, out FudgeConfig? existing) ? existing : new FudgeConfig(clock, address.Value.Line);
        bool any = false;
        while (line.Next() is ConfigToken kind)
        {
            any = true;
            string which = kind.Text.ToLowerInvariant();
            if (which is not ("timedata" or "ppsdata"))
            {
                line.Error(kind, $"expected timedata or ppsdata, not '{kind.Text}'");
                return;
            }

            if (line.RequireWord("a device path") is not ConfigToken path)
            {
                return;
            }

            fudge = which == "timedata" ? fudge with { Path = path.Text } : fudge with { PpsPath = path.Text };
        }

        if (!any)
        {
            line.ErrorAtEnd("expected timedata PATH or ppsdata PATH");
            return;
        }

        _config.Fudges[clock] = fudge;
    }

    /// <summary><c>pollskewlist [POLL E|L] ... [default E|L]</c>: how early and late polls of each interval may be.</summary>
    private static void ParsePollSkewList(LineReader line)
    {
        while (line.Next() is ConfigToken poll)
        {
            bool isDefault = string.Equals(poll.Text, "default", StringComparison.OrdinalIgnoreCase);
            if (!isDefault && !(int.TryParse(poll.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int exponent) && exponent is >= 3 and <= 17))
            {
                line.Error(poll, $"pollskewlist takes a poll exponent from 3 to 17 or 'default', not '{poll.Text}'");
                return;
            }

            ConfigToken? skew = line.RequireWord("EARLY|LATE (seconds)");
            if (skew is null)
            {
                return;
            }

            string[] parts = skew.Value.Text.Split('|');
            if (parts.Length != 2 || !parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                line.Error(skew.Value, $"pollskewlist skews are written EARLY|LATE in seconds, such as 6|6, not '{skew.Value.Text}'");
                return;
            }
        }
    }

    private static readonly string[] StatisticsNames = ["loopstats", "peerstats", "clockstats", "rawstats", "sysstats", "protostats", "cryptostats", "timingstats", "usestats", "ntsstats", "ntskestats"];

    private static readonly string[] FileGenTypes = ["none", "pid", "day", "week", "month", "year", "age"];

    /// <summary>NTPsec's <c>refclock NAME</c> driver names and the ntpd driver types they are.</summary>
    private static readonly Dictionary<string, int> RefclockDrivers = new(StringComparer.Ordinal)
    {
        ["local"] = 1, ["spectracom"] = 4, ["truetime"] = 5, ["generic"] = 8, ["arbiter"] = 11, ["modem"] = 18,
        ["nmea"] = 20, ["pps"] = 22, ["hpgps"] = 26, ["shm"] = 28, ["trimble"] = 29, ["oncore"] = 30, ["jjy"] = 40,
        ["zyfer"] = 42, ["neoclock"] = 44, ["gpsd"] = 46,
    };

    /// <summary><c>restrict [-4|-6] default|source|ADDR [mask M]|ADDR/LEN|NAME [ippeerlimit N] [flag ...]</c>; <c>unrestrict</c> alike.</summary>
    private void ParseRestrict(LineReader line, bool remove)
    {
        AddressFamily? family = null;
        ConfigToken? target = line.RequireWord("default, source, an address or a host name");
        while (target is { Text: "-4" or "-6" })
        {
            family = target.Value.Text == "-4" ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
            target = line.RequireWord("default, source, an address or a host name");
        }

        if (target is null)
        {
            return;
        }

        string text = target.Value.Text;
        RestrictEntry entry;
        switch (text.ToLowerInvariant())
        {
            case "default":
                entry = new RestrictEntry(RestrictTarget.Default, target.Value.Line) { Family = family };
                break;
            case "source":
                entry = new RestrictEntry(RestrictTarget.Source, target.Value.Line) { Family = family };
                break;
            default:
                if (ParseNetwork(line, target.Value, family) is not RestrictEntry network)
                {
                    return;
                }

                entry = network;
                break;
        }

        if (string.Equals(line.Peek(), "mask", StringComparison.OrdinalIgnoreCase))
        {
            ConfigToken mask = line.Next()!.Value;
            ConfigToken? value = line.RequireWord("a mask such as 255.255.255.0");
            if (value is null)
            {
                return;
            }

            if (entry.Target != RestrictTarget.Address || !IPAddress.TryParse(value.Value.Text, out IPAddress? maskAddress)
                || maskAddress.AddressFamily != entry.Address!.AddressFamily)
            {
                line.Error(value.Value, entry.Target == RestrictTarget.Address
                    ? $"'{value.Value.Text}' is not a mask of the address's family"
                    : $"'{mask.Text}' applies to an address, not to '{text}'");
                return;
            }

            entry = entry with { Mask = maskAddress, Address = Masked(entry.Address!, maskAddress) };
        }

        RestrictFlags flags = RestrictFlags.None;
        while (line.Next() is ConfigToken flag)
        {
            string word = flag.Text.ToLowerInvariant();
            if (RestrictFlagNames.TryGetValue(word, out RestrictFlags value))
            {
                flags |= value;
                if (RestrictFlagsNotInEffect.TryGetValue(word, out string? reason))
                {
                    line.NotInEffect(flag, $"restrict {word}", reason);
                }
            }
            else if (word == "ippeerlimit" || word == "serverresponse")
            {
                // ntpd 4.2.8p11's ippeerlimit N and serverresponse fuzz, with their argument.
                line.NotInEffect(flag, $"restrict {word}", RestrictFlagsNotInEffect[word]);
                line.Next();
            }
            else if (word == "trust")
            {
                line.Warn(flag, "unknown restrict flag 'trust' (there is none: 'notrust' is its opposite); read as no flag, which leaves these hosts unrestricted");
            }
            else
            {
                line.Error(flag, Unknown("unknown restrict flag ", flag.Text, word, RestrictFlagNames.Keys));
                return;
            }
        }

        _config.Restrictions.Add(entry with { Flags = flags, Remove = remove });
    }

    /// <summary>An address (mask all ones), an address/prefix, or a host name.</summary>
    private static RestrictEntry? ParseNetwork(LineReader line, ConfigToken target, AddressFamily? family)
    {
        string text = target.Text;
        int slash = text.IndexOf('/');
        string addressText = slash < 0 ? text : text[..slash];
        if (IPAddress.TryParse(addressText, out IPAddress? address))
        {
            if (family is { } f && address.AddressFamily != f)
            {
                line.Error(target, $"'{text}' is not an {(f == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address, as the -4/-6 before it says");
                return null;
            }

            int bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
            int prefix = bits;
            if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bits))
            {
                line.Error(target, $"'{text}': the prefix length after '/' is 0 to {bits}");
                return null;
            }

            IPAddress mask = PrefixMask(prefix, bits);
            return new RestrictEntry(RestrictTarget.Address, target.Line) { Address = Masked(address, mask), Mask = mask, Family = address.AddressFamily };
        }

        if (slash >= 0 || !IsHostName(text))
        {
            line.Error(target, $"'{text}' is neither default, source, an address nor a host name");
            return null;
        }

        return new RestrictEntry(RestrictTarget.HostName, target.Line) { HostName = text, Family = family };
    }

    private static IPAddress PrefixMask(int prefix, int bits)
    {
        var bytes = new byte[bits / 8];
        for (int i = 0; i < prefix; i++)
        {
            bytes[i / 8] |= (byte)(0x80 >> (i % 8));
        }

        return new IPAddress(bytes);
    }

    private static IPAddress Masked(IPAddress address, IPAddress mask)
    {
        byte[] a = address.GetAddressBytes();
        byte[] m = mask.GetAddressBytes();
        for (int i = 0; i < a.Length; i++)
        {
            a[i] &= m[i];
        }

        return new IPAddress(a);
    }

    private static bool IsHostName(string text) =>
        text.Length is > 0 and <= 253 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_') && char.IsAsciiLetterOrDigit(text[0]);

    /// <summary><c>broadcast ADDR [key N] [ttl N] [version N] [minpoll N] [maxpoll N]</c>, and <c>manycastclient</c> with the association options.</summary>
    private void ParseBroadcast(LineReader line, bool manycast)
    {
        ConfigToken? address = line.RequireWord("a broadcast or multicast address");
        if (address is null)
        {
            return;
        }

        if (!IPAddress.TryParse(address.Value.Text, out IPAddress? parsed))
        {
            line.Error(address.Value, $"'{address.Value.Text}' is not an address");
            return;
        }

        if (manycast && !IsGroup(parsed))
        {
            line.Error(address.Value, $"manycastclient: '{address.Value.Text}' is not a multicast group (224.0.0.0/4 or ff00::/8; 224.0.1.1 is NTP's)");
            return;
        }

        var broadcast = new BroadcastConfig(address.Value.Text, address.Value.Line) { ManycastClient = manycast };
        while (line.Next() is ConfigToken option)
        {
            switch (option.Text.ToLowerInvariant())
            {
                case "key": broadcast = broadcast with { Key = line.Integer(option, 1, 65535) }; break;
                case "ttl": broadcast = broadcast with { Ttl = line.Integer(option, 0, 255) ?? broadcast.Ttl }; break;
                case "version": broadcast = broadcast with { Version = line.Integer(option, 1, 4) ?? broadcast.Version }; break;
                case "minpoll": broadcast = broadcast with { MinPoll = line.Integer(option, 3, 17) ?? broadcast.MinPoll }; break;
                case "maxpoll": broadcast = broadcast with { MaxPoll = line.Integer(option, 3, 17) ?? broadcast.MaxPoll }; break;
                case "iburst" or "burst" or "prefer" or "noselect" or "true" when manycast:
                    broadcast = option.Text.ToLowerInvariant() switch
                    {
                        "iburst" => broadcast with { Iburst = true },
                        "burst" => broadcast with { Burst = true },
                        "prefer" => broadcast with { Prefer = true },
                        "noselect" => broadcast with { NoSelect = true },
                        _ => broadcast with { True = true },
                    };
                    break;
                case "iburst" or "burst" or "prefer" or "noselect" or "true":
                    line.NotInEffect(option, option.Text.ToLowerInvariant(), "it means nothing on a broadcast line, which only sends");
                    break;
                case "preempt" or "autokey" or "xleave":
                    line.NotInEffect(option, option.Text.ToLowerInvariant(), AssociationOptionsNotInEffect[option.Text.ToLowerInvariant()]);
                    break;
                default:
                    line.Error(option, Unknown("unknown option ", option.Text, option.Text.ToLowerInvariant(), ["key", "ttl", "version", "minpoll", "maxpoll"]));
                    return;
            }
        }

        _config.Broadcasts.Add(broadcast);
    }

    /// <summary><c>broadcastclient [novolley]</c>; NTPv3's <c>broadcastclient yes</c> (seed 004) is read as the plain form.</summary>
    private void ParseBroadcastClient(LineReader line)
    {
        _config.BroadcastClient = true;
        if (line.Next() is not ConfigToken word)
        {
            return;
        }

        switch (word.Text.ToLowerInvariant())
        {
            case "novolley":
                _config.BroadcastVolley = false;
                break;
            case "yes":
                line.Warn(word, "'broadcastclient yes' is the NTPv3 form; read as 'broadcastclient'");
                break;
            case "no":
                line.Warn(word, "'broadcastclient no' is the NTPv3 form; read as no broadcast client");
                _config.BroadcastClient = false;
                break;
            default:
                line.Error(word, $"expected novolley or nothing after broadcastclient, not '{word.Text}'");
                return;
        }

        line.WarnRest();
    }

    private static bool IsGroup(IPAddress address) =>
        address.IsIPv6Multicast || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && address.GetAddressBytes()[0] is >= 224 and < 240);

    private static void ParseGroups(LineReader line, List<IPAddress> into, string directive)
    {
        bool any = false;
        while (line.Next() is ConfigToken group)
        {
            any = true;
            if (group.Text is "-4" or "-6")
            {
                continue;
            }

            if (!IPAddress.TryParse(group.Text, out IPAddress? address))
            {
                line.Error(group, $"{directive}: '{group.Text}' is not an address");
                return;
            }

            if (!IsGroup(address))
            {
                line.Error(group, $"{directive}: '{group.Text}' is not a multicast group (224.0.0.0/4 or ff00::/8; 224.0.1.1 is NTP's)");
                return;
            }

            into.Add(address);
        }

        if (!any)
        {
            // ntpd's default group for both: 224.0.1.1, the NTP multicast address.
            into.Add(IPAddress.Parse("224.0.1.1"));
        }
    }

    /// <summary><c>keys FILE</c>: read now; a missing file is a warning (seed 001), as authentication then has no keys.</summary>
    private void ParseKeys(LineReader line)
    {
        ConfigToken? file = line.RequireWord("a keys file name");
        if (file is null)
        {
            return;
        }

        line.WarnRest();
        string path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(_includeStack.Peek()) ?? ".", file.Value.Text));
        _config.KeysFile = path;
        try
        {
            _config.Keys = KeyRing.Parse(File.ReadAllText(path), path, _config.Diagnostics);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            line.Warn(file.Value, $"keys file '{file.Value.Text}' cannot be read ({(e is FileNotFoundException or DirectoryNotFoundException ? "it does not exist" : e.Message)}); no symmetric keys are loaded");
        }
    }

    /// <summary><c>trustedkey 1 2 (10 ... 20)</c>: key IDs and ranges, the parentheses attached or apart.</summary>
    private void ParseTrustedKeys(LineReader line)
    {
        // Split "(10" and "12)" into their parts, each remembering the token it came from.
        var words = new List<(string Text, ConfigToken At)>();
        while (line.Next() is ConfigToken token)
        {
            string text = token.Text;
            if (text.StartsWith('(') && text.Length > 1)
            {
                words.Add(("(", token));
                text = text[1..];
            }

            bool close = text.EndsWith(')') && text.Length > 1;
            words.Add((close ? text[..^1] : text, token));
            if (close)
            {
                words.Add((")", token));
            }
        }

        if (words.Count == 0)
        {
            line.ErrorAtEnd("expected one or more key IDs");
            return;
        }

        static int? KeyId(string text) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int id) && id is >= 1 and <= 65535 ? id : null;

        for (int i = 0; i < words.Count; i++)
        {
            (string text, ConfigToken at) = words[i];
            if (text == "(")
            {
                int? from = i + 1 < words.Count ? KeyId(words[i + 1].Text) : null;
                int? to = i + 3 < words.Count && words[i + 2].Text == "..." ? KeyId(words[i + 3].Text) : null;
                if (from is null || to is null || i + 4 >= words.Count || words[i + 4].Text != ")" || to < from)
                {
                    line.Error(at, "a key range is written '( first ... last )' with first ≤ last");
                    return;
                }

                for (int k = from.Value; k <= to.Value; k++)
                {
                    _config.TrustedKeys.Add(k);
                }

                i += 4;
                continue;
            }

            if (KeyId(text) is not int key)
            {
                line.Error(at, $"trustedkey takes key IDs from 1 to 65535 and ranges '( a ... b )', not '{at.Text}'");
                return;
            }

            _config.TrustedKeys.Add(key);
        }
    }

    private void ParseStatistics(LineReader line)
    {
        while (line.Next() is ConfigToken name)
        {
            string word = name.Text.ToLowerInvariant();
            if (!StatisticsNames.Contains(word))
            {
                line.Error(name, Unknown("unknown statistics file ", name.Text, word, StatisticsNames));
                return;
            }

            WarnUnwrittenStatistics(line, name, word);
            _config.Statistics.Add(word);
        }
    }

    /// <summary>The statistics files this build writes; the others are named by ntpd's Autokey and NTPsec's NTS.</summary>
    private static readonly HashSet<string> WrittenStatistics = new(StringComparer.Ordinal) { "loopstats", "peerstats", "clockstats", "rawstats", "sysstats", "protostats" };

    private static void WarnUnwrittenStatistics(LineReader line, ConfigToken name, string word)
    {
        if (!WrittenStatistics.Contains(word))
        {
            line.NotInEffect(name, word, word switch
            {
                "cryptostats" => "Autokey (RFC 5906) is not supported, so there are no crypto statistics",
                "ntsstats" or "ntskestats" => "NTS is not in this build yet",
                _ => "this build does not write that file",
            });
        }
    }

    /// <summary><c>filegen NAME [file F] [type T] [link|nolink] [enable|disable]</c>.</summary>
    private void ParseFileGen(LineReader line)
    {
        ConfigToken? name = line.RequireWord("a statistics name such as loopstats");
        if (name is null)
        {
            return;
        }

        string stat = name.Value.Text.ToLowerInvariant();
        if (!StatisticsNames.Contains(stat))
        {
            line.Error(name.Value, Unknown("unknown statistics file ", name.Value.Text, stat, StatisticsNames));
            return;
        }

        WarnUnwrittenStatistics(line, name.Value, stat);
        FileGenConfig gen = _config.FileGens.GetValueOrDefault(stat) ?? new FileGenConfig(stat, name.Value.Line);
        while (line.Next() is ConfigToken option)
        {
            switch (option.Text.ToLowerInvariant())
            {
                case "file":
                    gen = gen with { File = line.RequireWord("a file name")?.Text ?? gen.File };
                    break;
                case "type":
                    ConfigToken? type = line.RequireWord("none, pid, day, week, month, year or age");
                    if (type is null || !FileGenTypes.Contains(type.Value.Text.ToLowerInvariant()))
                    {
                        if (type is { } t)
                        {
                            line.Error(t, $"filegen type is none, pid, day, week, month, year or age, not '{t.Text}'");
                        }

                        return;
                    }

                    gen = gen with { Type = type.Value.Text.ToLowerInvariant() };
                    break;
                case "link": gen = gen with { Link = true }; break;
                case "nolink": gen = gen with { Link = false }; break;
                case "enable": gen = gen with { Enable = true }; break;
                case "disable": gen = gen with { Enable = false }; break;
                default:
                    line.Error(option, Unknown("unknown filegen option ", option.Text, option.Text.ToLowerInvariant(), ["file", "type", "link", "nolink", "enable", "disable"]));
                    return;
            }
        }

        _config.FileGens[stat] = gen;
    }

    /// <summary><c>setvar name = value [default]</c> (the value may be quoted).</summary>
    private void ParseSetVar(LineReader line)
    {
        ConfigToken? name = line.RequireWord("a variable name");
        if (name is null)
        {
            return;
        }

        string text = name.Value.Text;
        string? value = null;
        int equals = text.IndexOf('=');
        if (equals > 0)
        {
            value = text[(equals + 1)..];
            text = text[..equals];
        }

        if (value is null or "")
        {
            ConfigToken? next = line.Next();
            if (next is { Text: "=" })
            {
                next = line.Next();
            }
            else if (next is { } n && n.Text.StartsWith('='))
            {
                next = n with { Text = n.Text[1..] };
            }

            if (next is null)
            {
                line.ErrorAtEnd($"setvar {text}: expected '= value'");
                return;
            }

            value = next.Value.Text;
        }

        _config.SetVarDefault.Remove(text);
        if (string.Equals(line.Peek(), "default", StringComparison.OrdinalIgnoreCase))
        {
            line.Next();
            _config.SetVarDefault.Add(text);
        }

        _config.SetVar[text] = value;
        line.WarnRest();
    }

    /// <summary>NTPsec's <c>refclock NAME [unit N] [options]</c>: the same as <c>server 127.127.T.N</c> and its <c>fudge</c>.</summary>
    private void ParseRefclock(LineReader line)
    {
        ConfigToken? driver = line.RequireWord("a driver name (local, nmea, shm, pps, gpsd, ...)");
        if (driver is null)
        {
            return;
        }

        if (!RefclockDrivers.TryGetValue(driver.Value.Text.ToLowerInvariant(), out int type))
        {
            line.Error(driver.Value, Unknown("unknown refclock driver ", driver.Value.Text, driver.Value.Text.ToLowerInvariant(), RefclockDrivers.Keys));
            return;
        }

        int unit = 0;
        var association = new AssociationConfig(AssociationKind.Server, "", driver.Value.Line);
        var fudge = new FudgeConfig(new RefclockAddress(type, 0), driver.Value.Line);
        var flags = new Dictionary<int, bool>();
        while (line.Next() is ConfigToken option)
        {
            string word = option.Text.ToLowerInvariant();
            switch (word)
            {
                case "unit": unit = line.Integer(option, 0, 255) ?? 0; break;
                case "prefer": association = association with { Prefer = true }; break;
                case "noselect": association = association with { NoSelect = true }; break;
                case "minpoll": association = association with { MinPoll = line.Integer(option, 0, 17) ?? association.MinPoll }; break;
                case "maxpoll": association = association with { MaxPoll = line.Integer(option, 0, 17) ?? association.MaxPoll }; break;
                case "stratum": fudge = fudge with { Stratum = line.Integer(option, 0, 15) }; break;
                case "refid": fudge = fudge with { RefId = line.RequireWord("a reference ID")?.Text is { } r ? (r.Length > 4 ? r[..4] : r) : null }; break;
                case "time1": fudge = fudge with { Time1 = line.Real(option) }; break;
                case "time2": fudge = fudge with { Time2 = line.Real(option) }; break;
                case "flag1" or "flag2" or "flag3" or "flag4": flags[word[4] - '0'] = true; break;
                case "mode": association = association with { Mode = line.Integer(option, 0, int.MaxValue) ?? 0 }; break;
                case "baud": fudge = fudge with { Baud = line.Integer(option, 50, 4_000_000) }; break;
                case "path": fudge = fudge with { Path = line.RequireWord("a device path")?.Text }; break;
                case "ppspath": fudge = fudge with { PpsPath = line.RequireWord("a device path")?.Text }; break;
                case "subtype" or "holdover":
                    line.NotInEffect(option, $"refclock {word}", "no driver of this build has subtypes or holdover");
                    line.Integer(option, 0, int.MaxValue);
                    break;
                default:
                    line.Error(option, Unknown("unknown refclock option ", option.Text, word, ["unit", "prefer", "noselect", "minpoll", "maxpoll", "stratum", "refid", "time1", "time2", "flag1", "flag2", "flag3", "flag4", "mode", "path", "ppspath", "baud", "subtype", "holdover"]));
                    return;
            }
        }

        var clock = new RefclockAddress(type, unit);
        if (type is not (1 or 20 or 22 or 28))
        {
            line.NotInEffect(driver.Value, $"refclock {driver.Value.Text}", $"driver type {type} is not available in this build yet; the association is not used");
        }

        _config.Associations.Add(association with { Address = clock.ToString() });
        _config.Fudges[clock] = fudge with { Clock = clock, Flags = flags };
    }
}
