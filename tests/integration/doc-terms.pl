#!/usr/bin/perl
# doc-terms.pl CONFIG_MD USAGE_FILE MANUAL
#
# Prints the terms a manual names in its code (inline `spans`, also across
# a line break, and fenced blocks), one per line as "TERM<TAB>LINE" (the
# first line naming it), sorted by term. test_docs.sh runs it on an English
# manual and its Japanese counterpart and reports every term of the first
# that the second lacks. Prose is never looked at, so the Japanese text
# around the code is free; the code must name the same things.
#
# Terms:
#   PROG --option, PROG -o  options, with the program they follow in the
#                           same code (ssh -t, ssh-keygen -t), or alone
#                           where none is shown
#   KEY                     a configuration key (the "### `key`" headings of
#                           docs/config.md, the keyword table's reference)
#   sekishoctl WORD [WORD]  a sekishoctl command: the words after
#                           `sekishoctl [-c CONF]` (or opening a span, two
#                           words at least) that are command words of
#                           sekishoctl's usage text; `a|b` names each
#   sekishod, sekisho-verify, sekisho-session   the other programs
#   ssh CMD                 a gateway command over SSH (ssh ... HOST CMD)
#   /abs/path               a file name under /etc, /usr, /var, /lib, /srv
use strict;
use warnings;
# Bytes, not characters: core Perl only (Encode is not in perl-base), and
# the terms are ASCII; a Japanese byte is never a word character.

my ($cfg, $usage, $doc) = @ARGV;
die "usage: doc-terms.pl CONFIG_MD USAGE_FILE MANUAL\n" unless defined $doc;

my %key;
open(my $cf, '<', $cfg) or die "$cfg: $!\n";
while (<$cf>) {
    $key{$1} = 1 if /^### `([a-z][a-z0-9_]*)`/;
}
close $cf;
die "$cfg: no configuration keys found\n" unless %key;

# Command words: every lower-case word of the usage text's command lines
# (after "commands:"), split at "|"; upper-case words are placeholders.
my %word;
open(my $uf, '<', $usage) or die "$usage: $!\n";
my $in_cmds = 0;
while (<$uf>) {
    $in_cmds = 1 if /^commands:/;
    next unless $in_cmds || /sekishoctl/;
    for my $w (split /[\s\[\]()|]+/) {
        $word{$w} = 1 if $w =~ /^[a-z][a-z0-9-]*$/;
    }
}
close $uf;
delete $word{'sekishoctl'};
die "$usage: no command words found\n" unless $word{'user'};

# Gateway commands a person types after the host over SSH.
my %ssh_cmd = map { $_ => 1 }
    qw(targets request requests report approve deny signoff passwd help);
my %top = map { $_ => 1 } qw(init egress-key user target group grant session
    verify export replay search purge audit key request report backup
    restore status config-reference);

my %first;
sub term {
    my ($t, $line) = @_;
    $first{$t} = $line unless exists $first{$t};
}

# The command phrase in WORDS (already split, after "sekishoctl"):
# command words from the start; "a|b" ends the phrase, once per branch.
sub command {
    my ($line, $min, @w) = @_;
    my @phrase;
    while (@w) {
        my $t = shift @w;
        if ($t eq '-c' || $t eq '[-c') {
            shift @w;
            next;
        }
        my @alt = split /\|/, $t;
        last if grep { !$word{$_} } @alt;
        last if !@phrase && !$top{$alt[0]};
        if (@alt > 1) {
            term(join(' ', 'sekishoctl', @phrase, $_), $line) for @alt;
            return;
        }
        push @phrase, $t;
    }
    return if @phrase < $min;
    term(join(' ', 'sekishoctl', @phrase), $line);
}

# An option is named with the program it belongs to, the nearest one
# before it in the same code ("ssh -t", "ssh-keygen -t"), or alone where
# no program is shown ("`--exec`").
my %prog = map { $_ => 1 } qw(ssh ssh-keygen ssh-keyscan plink sekishoctl
    sekishod sekisho-verify sekisho-session rsync systemctl journalctl
    apt-get dpkg-buildpackage deploy/build-deb b2sum stat mail logger
    asciinema df);
sub qualified {
    my ($c, $at, $opt) = @_;
    my @before = split ' ', substr($c, 0, $at);
    for my $w (reverse @before) {
        return "$w $opt" if $prog{$w};
    }
    return $opt;
}

sub scan {
    my ($c, $line) = @_;
    $c =~ s/\s+/ /g;
    while ($c =~ /(?<![\w-])(--[a-z][a-z0-9-]*)/g) {
        term(qualified($c, $-[0], $1), $line);
    }
    while ($c =~ /(?<![\w\/.+-])(-[A-Za-z]{1,2})(?![\w-])/g) {
        term(qualified($c, $-[0], $1), $line);
    }
    while ($c =~ /\b([a-z][a-z0-9_]*)\b/g) {
        term($1, $line) if $key{$1};
    }
    while ($c =~ /(?<![\w.\/-])(\/(?:etc|usr|var|lib|srv)\/[\w.\/*-]*[\w*])/g) {
        term($1, $line);
    }
    while ($c =~ /\b(sekishod|sekisho-verify|sekisho-session)\b(?![\w.-])/g) {
        term($1, $line);
    }
    my @w = split ' ', $c;
    for my $i (0 .. $#w) {
        if ($w[$i] eq 'sekishoctl') {
            term('sekishoctl', $line);
            command($line, 1, @w[$i + 1 .. $#w]);
        }
    }
    command($line, 2, @w) if @w && $top{$w[0]};
    if ($c =~ /(?:^|[\s(])ssh\s(.*)/) {
        my @a = split ' ', $1;
        for my $i (0 .. $#a - 1) {
            if ($a[$i] =~ /@/ || $a[$i] eq 'gw' || $a[$i] eq 'gateway') {
                term("ssh $a[$i + 1]", $line) if $ssh_cmd{$a[$i + 1]};
                last;
            }
        }
    }
}

open(my $df, '<', $doc) or die "$doc: $!\n";
my @lines = <$df>;
close $df;
# Fenced blocks line by line; the rest paragraph by paragraph (a blank
# line or a fence ends one), so that a stray backtick shifts the pairing
# of spans in its own paragraph only. A span is a run of N backticks up to
# the next run of exactly N, as in CommonMark.
my ($para, $para_line, $fence) = ('', 0, 0);
sub spans {
    while ($para =~ /(?<!`)(`+)(?!`)(.*?[^`])\1(?!`)/gs) {
        my $before = substr($para, 0, $-[0]);
        scan($2, $para_line + ($before =~ tr/\n//));
    }
    $para = '';
}
for my $n (0 .. $#lines) {
    my $l = $lines[$n];
    if ($l =~ /^\s*(```|~~~)/) {
        spans();
        $fence = !$fence;
    } elsif ($fence) {
        # a comment after code is prose (and may be translated)
        $l =~ s/(?<=\S)\s+#\s.*$//;
        scan($l, $n + 1);
    } elsif ($l =~ /^\s*$/) {
        spans();
    } else {
        $para_line = $n + 1 if $para eq '';
        $para .= $l;
    }
}
spans();


print "$_\t$first{$_}\n" for sort keys %first;
