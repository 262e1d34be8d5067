/* detect_inject.c - injected-instruction patterns near trigger words.
 *
 * Every pattern names the words that must occur for it to match (anchors).
 * A scan hashes each word of the (folded) text once and looks it up in a
 * table built from all anchors; only the patterns of the words found run,
 * and only over a bounded window around the word (PCRE2, JIT, caseless,
 * match-limited). Optional refinements per pattern:
 *   need   co-trigger words (of some class) must also be in the window;
 *   with   a second regex must match in the same sentence;
 *   NEG    a negation just before the match drops it ("never ask for ...").
 * Matches that are quoted or introduced as examples ("such as", "attackers
 * may ...") are kept at low severity with DETECT_F_QUOTED.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/detect_int.h"
#include "util/str.h"

/* pattern flags */
#define P_NEG    0x100u  /* drop when negated just before */
#define P_NODOWN 0x200u  /* never lowered for quoting (markup is an attack when quoted too) */
#define P_ANCH   0x400u  /* the match starts at the anchor word (after delimiters in `pre`) */
#define P_US     0x800u  /* the anchor must touch '_' or '-' (identifiers such as _ai_note) */
#define P_ALL    (P_NEG | P_NODOWN | P_ANCH | P_US)

/* co-trigger classes: words that must occur near the anchor ("need": all of
 * the classes; "any": at least one) before a pattern runs */
#define CT_OBJ      0x00000001u /* sensitive objects */
#define CT_DEST     0x00000002u /* destinations */
#define CT_TOOL     0x00000004u /* tool, function, server ... */
#define CT_NOUN     0x00000008u /* instructions, rules, guardrails ... */
#define CT_NEG      0x00000010u /* not, never, don('t), without ... */
#define CT_USER     0x00000020u /* user, human, anyone */
#define CT_YOU      0x00000040u
#define CT_AS       0x00000080u
#define CT_WITHOUT  0x00000100u
#define CT_SAFETY   0x00000200u /* guardrails, safety, filters, validation ... */
#define CT_PRIV     0x00000400u /* admin, root, unrestricted, privileges ... */
#define CT_NEW      0x00000800u /* new, real, actual, updated ... */
#define CT_FROM     0x00001000u
#define CT_I        0x00002000u
#define CT_INVOKED  0x00004000u /* invoked, called, used, available ... */
#define CT_WILL     0x00008000u /* will, would, may ... */
#define CT_VERY     0x00010000u
#define CT_INTENS   0x00020000u /* extremely, critically, absolutely */
#define CT_CRED     0x00040000u /* password, seed, cvv, token ... */
#define CT_BEFOREX  0x00080000u /* using, calling, answering ... (after "before") */
#define CT_PLEASE   0x00100000u
#define CT_MODE     0x00200000u /* jailbreak, god, unrestricted ... (before "mode") */
#define CT_NOTE     0x00400000u /* note, message, instructions, reminder ... */
#define CT_READING  0x00800000u /* reading, processing, dear, attention ... */
#define CT_ABOVE    0x01000000u /* above, before, previously */
#define CT_TRUSTOBJ 0x02000000u /* input, commands, queries, implicitly ... */
#define CT_CHANGE   0x04000000u /* change, set, modify, redirect ... */
#define CT_DO       0x08000000u
#define CT_LEVEL    0x10000000u /* security, safety, trust, privilege, access, permission */
#define CT_URGENT   0x20000000u /* urgent, critical, important */
#define CT_ALT      0x40000000u /* other, alternative, competing, alternatives */
#define CT_ALL      0x7fffffffu

/* A gap inside one sentence: dots are allowed inside names (".ssh", "a.com"). */
#define GAP(n) "(?:[^.!?\\n]|[.!?](?=[^\\s]))" "{0," #n "}?"

struct pat_def {
    enum detect_rule rule;
    const char *anchors; /* words that trigger the pattern (lowercase, space separated) */
    const char *re;
    const char *with;    /* optional second regex, same sentence */
    uint8_t sr, sd;      /* severity per context: 0 rule default, OFF disabled */
    unsigned flags;
    uint32_t need, any;  /* co-trigger classes: all of need, one of any */
    const char *pre;     /* a substring that must occur in the back window */
    const char *post;    /* one of these bytes must occur in the forward window */
    uint16_t back, fwd;
};

/* per-pattern severity: 0 takes the rule's default, OFF disables the
 * pattern in that context */
#define OFF 0xffu
#define L DETECT_SEV_LOW
#define M DETECT_SEV_MEDIUM
#define H DETECT_SEV_HIGH

/* ---- vocabulary shared by several patterns ---- */
#define V_IGNORE "(?:ignor(?:e|es|ing)|disregard(?:s|ing)?|forget(?:ting)?|neglect)"
#define V_OVERRIDE "(?:overrid(?:e|es|ing)|overwrit(?:e|es|ing)|supersed(?:e|es|ing))"
#define QUAL                                                                                       \
    "(?:all|any|every|each|the|your|my|its|their|these|those|of|previous(?:ly)?|prior|above|"     \
    "earlier|preceding|former|existing|original|initial|old|current|other|given|provided|"        \
    "conflicting|safety|security|content|ethical|moral|developer|standing|openai'?s?|"            \
    "anthropic'?s?|system|core|hidden|guardrail)"
#define QUAL_STRONG                                                                                \
    "(?:previous(?:ly)?|prior|above|earlier|preceding|original|initial|your|all|any|system|"      \
    "safety|security|ethical|openai'?s?|anthropic'?s?|conflicting)"
#define N_STRONG                                                                                   \
    "(?:instructions?|prompts?|directives?|guidelines?|guardrails?|programming|safeguards?|"      \
    "system\\s+prompt)"
#define N_WEAK                                                                                     \
    "(?:restrictions|constraints|polic(?:y|ies)|rules|training|ethics|filters?|context|"          \
    "messages|conversation|commands|content\\s+filter(?:s|ing)?|checks|limitations)"

#define V_DISABLE                                                                                  \
    "(?:disabl(?:e|es|ing|ed)|bypass(?:es|ing|ed)?|deactivat(?:e|es|ing)|circumvent(?:s|ing)?|"   \
    "suspend(?:s|ing|ed)?|lift(?:s|ing)?|overrid(?:e|es|ing)|turn(?:s|ing)?\\s+off|"              \
    "switch(?:es|ing)?\\s+off|evad(?:e|ing)|remov(?:e|es|ing)|skip(?:s|ping)?|ignor(?:e|es|ing))"
/* safety measures of the model or the platform; the weak ones only count
 * with a quantifier ("disable all content filtering", not "disable content
 * filtering" as a search option) */
#define N_SAFETY                                                                                   \
    "(?:guardrails?|safeguards?|safety(?:\\s+(?:filters?|checks?|measures|restrictions|guidelines|" \
    "protocols?|validation|features|settings|systems?))?|ethical\\s+(?:guidelines|constraints|"    \
    "restrictions|considerations)|security\\s+(?:checks?|polic(?:y|ies)|controls|measures|"        \
    "restrictions|validation|guardrails|filters|protocols?)|censorship|alignment)"
#define N_SAFETY_WEAK                                                                              \
    "(?:content\\s+(?:filter(?:s|ing)?|moderation|polic(?:y|ies)|sanitization)|filters|filtering|"  \
    "moderation|restrictions|limitations|validation|(?:data\\s+)?validation|checks)"
#define OBJ                                                                                        \
    "(?:(?:ssh|private|secret|api|access|session|auth\\w*|bearer|refresh|aws|cloud|github|"       \
    "slack|openai)[\\s_-]*(?:keys?|tokens?|creds|credentials)|credentials?|creds|passwords?|"     \
    "passphrases?|secrets|id_(?:rsa|ed25519|ecdsa|dsa)|\\.env\\b|environment\\s+variables|"       \
    "env\\s+vars?|cookies|session\\s+(?:data|tokens?|cookies?)|(?:conversation|chat|message|"     \
    "browsing|command|search)\\s+history|(?:previous|prior|last|all|recent|other|every)\\s+"      \
    "(?:\\w+\\s+)?(?:messages|conversations|chats|e-?mails)|system\\s+prompt|(?:all\\s+)?"        \
    "(?:user|customer|personal|private|sensitive|confidential)\\s+(?:data|information|details|"  \
    "files|records|repos(?:itories)?|messages)|seed\\s+phrase|recovery\\s+phrase|mnemonic|"       \
    "2fa|mfa|backup\\s+codes|(?:every|all|each)\\s+rows?|its\\s+contents?|their\\s+contents?|"   \
    "the\\s+contents?\\s+of\\s+(?:the\\s+)?(?:file|~|\\.|/)|tool\\s+(?:list|names)|names\\s+of\\s+" \
    "(?:the\\s+)?tools|private\\s+repo\\w*|(?:mcp|config)\\.json|integration[_\\s]tokens|"        \
    "api[_\\s]keys?)"
#define DEST_LIT                                                                                   \
    "(?:[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+|https?://\\S+|\\+\\d[\\d\\s().-]{7,}\\d)"
#define DEST                                                                                       \
    "(?:\\b(?:to|at|into|onto)\\s+(?:" DEST_LIT "|(?:an?\\s+|the\\s+|our\\s+|this\\s+|my\\s+)?"   \
    "(?:external|remote|third[- ]party|attacker\\S*|outside|public|analytics|following|"          \
    "webhook|collection|exfil\\S*)\\b|['\"`]?[\\w-]+['\"`]?\\s+(?:field|parameter|param|"          \
    "argument)|(?:\\w+\\s+){0,5}?(?:readme|reply|response|answer|ticket|comment|issue|"           \
    "pull\\s+request|output|message\\s+body)\\b)|\\b(?:as|in|into)\\s+(?:the\\s+|its\\s+)?"        \
    "['\"`][\\w-]+['\"`]|\\b(?:as|in|into)\\s+(?:the\\s+)?['\"`]?[\\w-]+['\"`]?\\s+(?:field|"      \
    "parameter|param|argument)|\\bin\\s+(?:the|your)\\s+(?:reply|response|answer|output))"
#define V_SEND                                                                                     \
    "(?:send|sends|sending|forward(?:s|ing)?|(?:e-?)?mail(?:s|ing)?|post(?:s|ing)?|upload(?:s|ing)?|"  \
    "transmit(?:s|ting)?|exfiltrat(?:e|es|ing)|leak(?:s|ing)?|cop(?:y|ies|ying)|bcc|cc|"          \
    "relay(?:s|ing)?|redirect(?:s|ing)?|pass(?:es|ing)?|includ(?:e|es|ing)|append(?:s|ing)?|"     \
    "attach(?:es|ing)?|past(?:e|es|ing)|shar(?:e|es|ing)|submit(?:s|ting)?|writ(?:e|es|ing)|"      \
    "put|add(?:s|ing)?|giv(?:e|es|ing)|report(?:s|ing)?|dump(?:s|ing)?|export(?:s|ing)?)"
#define CREDOBJ                                                                                    \
    "(?:password|passcode|passphrase|api\\s+key|access\\s+token|auth(?:entication)?\\s+token|"    \
    "credentials|login\\s+details|seed\\s+phrase|recovery\\s+(?:phrase|codes?)|mnemonic|"         \
    "private\\s+key|2fa|mfa|otp|one[- ]time\\s+(?:code|password)|verification\\s+code|"           \
    "backup\\s+codes|cvv2?|cvc2?|security\\s+code|pin\\b|social\\s+security|ssn\\b|"              \
    "card\\s+(?:number|details)|bank\\s+(?:account|details|login))"
#define SPATH                                                                                      \
    "(?:(?:~|\\$home|%userprofile%|/home/[\\w.-]+|/root|/users/[\\w.-]+)?/?\\.ssh\\b(?:/[\\w.-]*[\\w-])?|" \
    "\\bid_(?:rsa|ed25519|ecdsa|dsa)\\b(?:\\.pub\\b)?|(?<![\\w.-])\\.env(?:\\.[\\w-]+)?\\b|"        \
    "\\.aws/(?:credentials|config)\\b|\\.kube/config\\b|\\.docker/config\\.json|\\.npmrc\\b|"     \
    "\\.pypirc\\b|\\.netrc\\b|\\.git-credentials\\b|\\.gnupg\\b|/etc/(?:passwd|shadow|sudoers|"   \
    "gshadow|master\\.passwd)\\b|(?:\\.cursor/|\\.vscode/)?\\bmcp\\.json\\b|"                      \
    "claude_desktop_config\\.json|\\.(?:bash|zsh)_history\\b|/proc/self/environ\\b|"              \
    "\\.config/gcloud\\b|application_default_credentials\\.json|wallet\\.dat\\b|\\.azure/)"
/* secret paths only: public keys and ssh config are ordinary to read */
#define SPATH_SECRET                                                                               \
    "(?:(?:~|\\$home|%userprofile%|/home/[\\w.-]+|/root|/users/[\\w.-]+)?/?\\.ssh\\b"             \
    "(?:/(?!config\\b|authorized_keys\\b|known_hosts\\b|[\\w.-]+\\.pub\\b)[\\w.-]+)?(?!/)|"        \
    "\\bid_(?:rsa|ed25519|ecdsa|dsa)\\b(?!\\.pub)|(?<![\\w.-])\\.env\\b(?!\\.(?:example|sample|"  \
    "template|dist))|\\.aws/credentials\\b|\\.kube/config\\b|\\.docker/config\\.json|\\.npmrc\\b|" \
    "\\.pypirc\\b|\\.netrc\\b|\\.git-credentials\\b|\\.gnupg\\b|/etc/(?:shadow|sudoers|gshadow|"  \
    "master\\.passwd)\\b|/etc/passwd\\b|(?:\\.cursor/|\\.vscode/)?\\bmcp\\.json\\b|"                \
    "claude_desktop_config\\.json|\\.(?:bash|zsh)_history\\b|/proc/self/environ\\b|"              \
    "application_default_credentials\\.json|wallet\\.dat\\b|ssh\\s+private\\s+keys?|"             \
    "aws\\s+credential(?:s|\\s+files?)|shell\\s+history|kubernetes\\s+config(?:uration)?\\s+"     \
    "files?|browser\\s+(?:cookies|passwords|history)|keychain)"
#define V_READ_DEF                                                                                 \
    "\\b(?:read|reads|reading|cat|open|opens|load|loads|collect|collects|collecting|harvest\\w*|" \
    "gather\\w*|grab\\w*|copy|copies|upload\\w*|send|sends|exfiltrat\\w*|includ\\w*|append\\w*|"  \
    "pass|passes|access|accesses|steal\\w*|dump\\w*|extract\\w*|check|scan|look\\s+(?:at|in|for)|" \
    "search\\w*|fetch\\w*|retriev\\w*|attempt\\s+to\\s+read)\\b"
#define V_READ_RES                                                                                 \
    "\\b(?:exfiltrat\\w*|send|sends|upload\\w*|steal\\w*|dump\\w*|collect\\w*|harvest\\w*|"       \
    "paste|e-?mail|post|leak\\w*|transmit\\w*|forward\\w*|read\\s+and\\s+(?:send|include|pass))\\b"

static const struct pat_def pats[] = {
    /* ---------------------------------------------------------- override */
    {.rule = DR_INJ_OVERRIDE,
     .anchors = "ignore ignores ignoring disregard disregards disregarding forget forgetting neglect",
     .re = "\\b" V_IGNORE "[\\s*_]+(?:" QUAL "[\\s*_]+){0,5}" N_STRONG "\\b",
     .flags = P_ANCH, .need = CT_NOUN, .fwd = 160},
    {.rule = DR_INJ_OVERRIDE,
     .anchors = "ignore ignores ignoring disregard disregards disregarding forget forgetting neglect",
     .re = "\\b" V_IGNORE "[\\s*_]+(?:" QUAL "[\\s*_]+){0,4}" QUAL_STRONG "[\\s*_]+(?:" QUAL
           "[\\s*_]+){0,2}" N_WEAK "\\b",
     .flags = P_ANCH, .need = CT_NOUN, .fwd = 160},
    {.rule = DR_INJ_OVERRIDE, .anchors = "ignore ignoring disregard forget",
     .re = "\\b(?:ignor(?:e|ing)|disregard|forget)\\s+(?:(?:all|everything|anything|the\\s+text|the)"
           "\\s+)?(?:above|before\\s+this|previously\\s+(?:said|stated|written))(?!\\s*(?:\\w+\\s+)?"
           "(?:draft|version|message|email|step|example|warning|error|note|section|paragraph|"
           "comment|line))\\b",
     .flags = P_ANCH, .need = CT_ABOVE, .fwd = 120},
    {.rule = DR_INJ_OVERRIDE,
     .anchors = "override overrides overriding overwrite overwriting supersede supersedes superseding",
     .re = "\\b" V_OVERRIDE "\\s+(?:" QUAL "\\s+){0,3}(?:previous(?:ly)?|prior|above|earlier|"
           "preceding|original|initial|all|any|conflicting|your)\\s+(?:" QUAL "\\s+){0,2}(?:"
           N_STRONG "|" N_WEAK ")\\b",
     .flags = P_ANCH, .need = CT_NOUN, .fwd = 160},
    {.rule = DR_INJ_OVERRIDE,
     .anchors = "instructions instruction directive directives task goal objective orders mission purpose",
     .re = "\\b(?:your|the|my|these\\s+are\\s+(?:your|the))\\s+(?:new|real|actual|true|updated|"
           "revised|only)\\s+(?:instructions?|task|goal|objective|directives?|orders|purpose|"
           "mission)\\b\\s*(?:is|are|:|follows?)",
     .need = CT_NEW, .back = 48, .fwd = 48},
    {.rule = DR_INJ_OVERRIDE,
     .anchors = "instructions instruction directive directives prompt rules orders",
     .re = "\\bnew\\s+(?:system\\s+)?(?:instructions?|directives?|instruction\\s+set|prompt|rules|"
           "orders)\\s*(?::|activated|(?:are\\s+)?(?:now\\s+)?(?:in\\s+effect|active|apply)|supersede)",
     .need = CT_NEW, .back = 32, .fwd = 48},
    {.rule = DR_INJ_OVERRIDE, .anchors = "adhere obey comply follow",
     .re = "\\byou\\s+(?:must|should|shall|will|have\\s+to|need\\s+to|are\\s+required\\s+to)\\s+"
           "(?:now\\s+)?(?:strictly\\s+|only\\s+|always\\s+)?(?:adhere|obey|comply|follow)\\s+(?:to\\s+|"
           "with\\s+)?(?:the\\s+|these\\s+|my\\s+|our\\s+)?(?:following|new|below|these|hidden|"
           "updated)\\s+(?:instructions?|rules|commands|directives|orders)",
     .sr = H, .sd = M, .need = CT_NOUN | CT_YOU, .back = 64, .fwd = 120},
    {.rule = DR_INJ_OVERRIDE, .anchors = "priority precedence",
     .re = "\\b(?:take|takes|have|has|with)\\s+(?:priority|precedence)\\s+over\\s+(?:all|any)\\s+"
           "(?:other\\s+|previous\\s+|prior\\s+)?(?:instructions|rules|directives|prompts)",
     .need = CT_NOUN, .back = 32, .fwd = 80},

    /* ------------------------------------------------------- role change */
    {.rule = DR_INJ_ROLE_CHANGE, .anchors = "now",
     .re = "\\byou(?:'re|\\s+are)\\s+now\\s+(?:in\\s+(?:\\w+[\\s-]+){0,2}mode\\b|(?:operating|acting|"
           "running|entering|switched|free|unrestricted|unfiltered|uncensored|jailbroken|no\\s+"
           "longer)\\b|an?\\s+(?:\\w+\\s+){0,2}?(?:assistant|ai|model|agent|bot|hacker|dan)\\b|dan\\b|"
           "[\"']?\\w*(?:unrestricted|jailbr|admin|root|evil))",
     .need = CT_YOU, .back = 16, .fwd = 80},
    {.rule = DR_INJ_ROLE_CHANGE, .anchors = "act acting",
     .re = "\\bact(?:ing)?\\s+as\\s*:|\\bact\\s+as\\s+(?:an?\\s+|the\\s+|if\\s+you\\s+(?:are|were)\\s+"
           "(?:an?\\s+)?)?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|root|admin(?:istrator)?"
           "|super\\s*user|system\\s+admin\\w*|dan\\b|developer\\s+mode|different\\s+ai|another\\s+ai)",
     .flags = P_NODOWN | P_ANCH, .need = CT_AS, .fwd = 80},
    {.rule = DR_INJ_ROLE_CHANGE, .anchors = "pretend roleplay role",
     .re = "\\bpretend\\s+(?:to\\s+be|you\\s+are|that\\s+you\\s+are)\\b|\\brole[- ]?play\\s+as\\b",
     .sr = M, .sd = M, .flags = P_ANCH, .fwd = 40},
    {.rule = DR_INJ_ROLE_CHANGE, .anchors = "now",
     .re = "\\bfrom\\s+now\\s+on\\s*,?\\s+(?:you|your|always|never|ignore|respond|answer|act|only|"
           "do\\s+not|don't)\\b",
     .sr = M, .sd = H, .need = CT_FROM, .back = 8, .fwd = 48},
    {.rule = DR_INJ_ROLE_CHANGE, .anchors = "mode",
     .re = "\\b(?:jailbreak|jailbroken|god|dan|unrestricted|unfiltered|uncensored|evil|privileged)"
           "[\\s_]+mode\\s+(?:is\\s+)?(?:now\\s+)?(?:enabled|activated|active|available|on|engaged|"
           "unlocked)\\b|\\b(?:enter|enable|activate|engage|unlock|switch\\s+(?:to|into)|turn\\s+on)\\s+"
           "(?:the\\s+)?(?:jailbreak|god|dan|unrestricted|unfiltered|uncensored|evil)\\s+mode\\b",
     .need = CT_MODE, .back = 48, .fwd = 48},
    {.rule = DR_INJ_ROLE_CHANGE, .anchors = "jailbreak jailbreaking jailbroken",
     .re = "\\bjailbreak(?:ing)?\\s+mode\\b", .flags = P_ANCH, .fwd = 16},
    {.rule = DR_INJ_ROLE_CHANGE, .anchors = "anything",
     .re = "\\bdo\\s+anything\\s+now\\b", .need = CT_DO, .back = 8, .fwd = 8},
    {.rule = DR_INJ_ROLE_CHANGE, .anchors = "role",
     .re = "\\bnew\\s+role\\s+assignment\\b|\\brole\\s+change\\s*:|\\bchange\\s+your\\s+role\\s+to\\b|"
           "\\byour\\s+(?:new\\s+)?role\\s+is\\s+now\\b",
     .any = CT_NEW | CT_CHANGE | CT_YOU, .back = 24, .fwd = 32},

    /* ---------------------------------------------------- safety bypass */
    {.rule = DR_INJ_SAFETY_BYPASS,
     .anchors = "disable disables disabling disabled bypass bypasses bypassing bypassed deactivate "
                "circumvent suspend suspended lift turn switch evade remove skip ignore override "
                "overrides",
     .re = "\\b" V_DISABLE "\\s+(?:(?:the|existing|current|previous|of)\\s+){0,2}(?:(?:ai|model|llm|"
           "safety|security|ethical|moral|trust)\\s+){0,2}" N_SAFETY "\\b|\\b" V_DISABLE "\\s+"
           "(?:all|any|every|your|its)\\s+(?:[\\w-]+\\s+){0,3}?(?:" N_SAFETY "|" N_SAFETY_WEAK ")\\b",
     .flags = P_ANCH, .need = CT_SAFETY, .fwd = 160},
    {.rule = DR_INJ_SAFETY_BYPASS, .anchors = "trust treat",
     .re = "\\btrust\\s+(?:all|any|every)\\s+(?:\\w+\\s+){0,2}?(?:input|inputs|commands?|queries|"
           "requests?|content|instructions|data|users?)\\b|\\btrust\\s+this\\s+tool\\s+(?:completely|"
           "fully|implicitly|unconditionally)|\\btreat\\s+(?:all|any)\\s+(?:\\w+\\s+){0,2}?(?:input|"
           "requests?|commands?|queries)\\s+as\\s+(?:trusted|admin|authorized|privileged)|\\btrust\\s+"
           "(?:all\\s+)?(?:\\w+\\s+){1,3}implicitly",
     .flags = P_ANCH, .need = CT_TRUSTOBJ, .fwd = 80},
    {.rule = DR_INJ_SAFETY_BYPASS, .anchors = "execute executes executing run perform approve carry",
     .re = "\\b(?:execut(?:e|es|ing)|run|perform|approve|carry\\s+out)\\s+(?:any|all|every|"
           "arbitrary)\\s+(?:\\w+\\s+){0,2}?(?:commands?|requests?|operations?|queries|code|"
           "instructions|actions)\\s+(?:\\w+\\s+){0,3}?without\\s+(?:any\\s+)?(?:validation|"
           "confirmation|verification|approval|restrictions?|limitations?|checks?|asking|"
           "permission|question|ethical)",
     .flags = P_ANCH, .need = CT_WITHOUT, .fwd = 160},
    {.rule = DR_INJ_SAFETY_BYPASS, .anchors = "level",
     .re = "\\b(?:security|safety|trust|privilege|access|permission)[_ ]level\\s*(?:=|:|to)\\s*['\"]?"
           "(?:0|none|off|disabled|max(?:imum)?|unrestricted|admin|root|full)\\b",
     .sr = H, .sd = M, .need = CT_LEVEL, .back = 24, .fwd = 40},
    {.rule = DR_INJ_SAFETY_BYPASS, .anchors = "bypass disable override unrestricted jailbreak",
     .re = "\\b(?:bypass_(?:guardrails|security|safety|filters|auth\\w*|validation)|disable_(?:safety|"
           "guardrails|security\\w*|filters|audit\\w*)|unrestricted_access|override_safety|"
           "jailbreak_mode|bypass_filters)\\s*(?:=|:)\\s*(?:true|1|yes)\\b",
     .sr = H, .sd = M, .flags = P_US, .back = 32, .fwd = 32},

    /* --------------------------------------------------------- privilege */
    {.rule = DR_INJ_PRIVILEGE,
     .anchors = "grant grants granted granting give gives assign escalate escalates elevate",
     .re = "\\b(?:grant(?:s|ed|ing)?|giv(?:e|es|ing)|assign(?:s|ing)?|escalat(?:e|es|ing)|elevat(?:e|es"
           "|ing))\\s+(?:(?:you|the\\s+(?:ai|assistant|model|agent|user)|this\\s+(?:session|user|tool)|"
           "me|them)\\s+)?(?:\\w+\\s+){0,2}?(?:full|unrestricted|unlimited|elevated|root|admin(?:"
           "istrator|istrative)?|super-?admin|superuser|maximum|system|god)[\\s-]+(?:system\\s+)?"
           "(?:access|privileges?|permissions?|rights|mode|role|level)\\b|\\bescalat(?:e|es|ing)\\s+"
           "(?:privileges|to\\s+(?:super-?)?(?:admin|root))",
     .flags = P_ANCH, .need = CT_PRIV, .fwd = 120},
    {.rule = DR_INJ_PRIVILEGE,
     .anchors = "privileges privileged elevated escalated permissions",
     .re = "\\b(?:operat|runn|execut|act)(?:e|es|ing)\\s+(?:\\w+\\s+){0,2}?with\\s+(?:elevated|"
           "escalated|unrestricted|full|admin(?:istrator)?|root|superuser|maximum)\\s+(?:privileges|"
           "permissions|access|rights)|\\b(?:user\\s+)?permissions?\\s+(?:elevated|escalated)\\s+to\\b|"
           "\\bprivileged\\s+mode\\b|\\bexecute\\s+privileged\\s+(?:operations|commands)",
     .back = 64, .fwd = 48},

    /* ------------------------------------------------------- system tags */
    {.rule = DR_INJ_SYSTEM_TAG,
     .anchors = "system sys important instructions instruction information secret hidden im_start "
                "im_end endoftext start_header_id eot_id assistant admin override directive "
                "directives prompt ai llm",
     .re = "<\\s*/?\\s*\\|?\\s*(?:system|sys|important|instructions?|information|secret|hidden|"
           "im_start|im_end|endoftext|start_header_id|end_header_id|eot_id|(?:system|ai|llm|hidden|"
           "secret|admin|instructions?|assistant)[_-][\\w-]+|[\\w-]+[_-](?:for[_-]ai|system|"
           "instructions?|directives?|override|prompt))\\b[^<>\\n]{0,80}>",
     .flags = P_NODOWN, .pre = "<", .back = 12, .fwd = 100},
    {.rule = DR_INJ_SYSTEM_TAG, .anchors = "inst sys",
     .re = "\\[\\s*/?\\s*INST\\s*\\]|<<\\s*/?\\s*SYS\\s*>>", .flags = P_NODOWN, .back = 8, .fwd = 16},
    {.rule = DR_INJ_SYSTEM_TAG, .anchors = "system", .re = "\\[\\s*system\\s*\\]", .sr = M, .sd = H,
     .flags = P_NODOWN, .pre = "[", .back = 8, .fwd = 16},
    {.rule = DR_INJ_SYSTEM_TAG, .anchors = "system sys",
     .re = "\\[{1,3}\\s*(?:system|sys)(?:\\s*:|[\\s_-]+(?:context|message|prompt|note|command|buffer|"
           "mode|notice|alert|instructions?|override|directive|delimiter|update)s?\\b)",
     .flags = P_NODOWN, .pre = "[", .back = 8, .fwd = 48},
    {.rule = DR_INJ_SYSTEM_TAG,
     .anchors = "directive directives override injection instruction instructions",
     .re = "\\[{1,3}\\s*(?:[\\w-]+[\\s_-]+){1,4}(?:directives?|override|injection)\\b[^\\]\\n]{0,120}\\]|"
           "\\[{1,3}\\s*(?:hidden|secret|internal|system|ai|emergency|role|metadata|configuration|"
           "admin)[\\s_-]+(?:instructions?|directives?|override)|\\[{1,3}\\s*(?:instructions?|"
           "directive)[\\s_-]+(?:injection|override|for)\\b",
     .flags = P_NODOWN, .pre = "[", .back = 48, .fwd = 140},
    {.rule = DR_INJ_SYSTEM_TAG, .anchors = "system important",
     .re = "(?:#{2,}|-{2,}|={2,}|\\*{2,})\\s*(?:\\w+\\s+){0,2}(?:system|important)\\s+(?:\\w+\\s+)?"
           "(?:message|instructions?|notice|override|delimiter|note|directive|command)s?\\s*"
           "(?:#{2,}|-{2,}|={2,}|\\*{2,}|:)",
     .flags = P_NODOWN, .post = "#-=*:", .back = 40, .fwd = 60},
    {.rule = DR_INJ_SYSTEM_TAG, .anchors = "system developer assistant",
     .re = "(?m)(?:^|(?<=[.!?])\\s)[ \\t>*#-]*(?:system|developer|assistant)\\s*:\\s*(?:you\\b|ignore|"
           "disregard|forget|from\\s+now|trust|bypass|grant|disable|execute|always|never|new\\b|"
           "act\\b|override)",
     .flags = P_NODOWN, .post = ":", .back = 16, .fwd = 48},
    {.rule = DR_INJ_SYSTEM_TAG, .anchors = "system override directive protocol",
     .re = "\\bsystem\\s+(?:override|prompt\\s+override|directive|instruction)s?(?:\\s+directive)?\\s*:|"
           "\\b(?:override|instruction|configuration|metadata|emergency|role|safety\\s+bypass)\\s+"
           "(?:directive|override|protocol)\\s*:",
     .flags = P_NODOWN, .post = ":", .back = 32, .fwd = 48},
    {.rule = DR_INJ_SYSTEM_TAG, .anchors = "system",
     .re = "\\b(?:urgent|critical|important)\\s+system\\s+(?:message|note|notice|instruction|override)",
     .flags = P_NODOWN, .need = CT_URGENT, .back = 16, .fwd = 24},

    /* ---------------------------------------------------- addressed to AI */
    {.rule = DR_INJ_ADDRESSED_TO_AI,
     .anchors = "ai llm assistant agent model chatbot models agents",
     .re = "\\b(?:notes?|message|instructions?|directives?|commands?|request|reminder)\\s+(?:for|to)"
           "\\s+(?:the\\s+|any\\s+)?(?:ai|llm|language\\s+model|ai\\s+(?:agent|assistant|model|system)|"
           "assistant|agent|model|chatbot)s?\\b",
     .sd = L, .need = CT_NOTE, .back = 48, .fwd = 24},
    {.rule = DR_INJ_ADDRESSED_TO_AI, .anchors = "ai llm assistant agent chatgpt claude gpt",
     .re = "\\b(?:ai|llm)\\s+(?:agents?|assistants?|models?|systems?)\\s+(?:reading|processing|that\\s+"
           "reads?|analy[sz]ing|seeing|viewing|parsing)\\s+this\\b|\\b(?:dear|hey|hello|attention|attn)"
           "\\s*,?\\s+(?:ai|llm|assistant|agent|chatgpt|claude|gpt)\\b",
     .need = CT_READING, .back = 16, .fwd = 48},
    {.rule = DR_INJ_ADDRESSED_TO_AI, .anchors = "ai llm assistant agent",
     .re = "(?<![a-z0-9])_*(?:ai|llm|assistant|agent)[_-]+(?:instructions?|directives?|system|notes?|"
           "processing|commands?|prompts?|override|only)\\w*|\\w*[_-](?:for|to)[_-](?:ai|llm|"
           "assistant|agent|model)(?![a-z])",
     .flags = P_NODOWN | P_US, .back = 40, .fwd = 40},
    {.rule = DR_INJ_ADDRESSED_TO_AI, .anchors = "ai llm assistant model agent",
     .re = "\\[[^\\]\\n]{0,40}\\bfor\\s+(?:the\\s+)?(?:ai|llm|assistant|model|agent)\\b[^\\]\\n]{0,30}\\]",
     .flags = P_NODOWN, .pre = "[", .back = 56, .fwd = 40},
    {.rule = DR_INJ_ADDRESSED_TO_AI,
     .anchors = "injection instruction instructions directive directives override prompt system",
     .re = "(?<![a-z0-9])_+(?:system[_-]?)?(?:injection|instructions?|directives?|override|prompt)"
           "(?![a-z])",
     .flags = P_NODOWN | P_US, .back = 24, .fwd = 24},

    /* ------------------------------------------------------ impersonation */
    {.rule = DR_INJ_IMPERSONATION, .anchors = "message note request instruction",
     .re = "\\b(?:this|here)\\s+is\\s+an?\\s+(?:\\w+\\s+){0,2}?(?:message|note|request|instruction)\\s+"
           "from\\s+(?:the\\s+|your\\s+)?(?:user|developer|admin\\w*|system|operator|owner|creator|"
           "anthropic|openai|security\\s+team|it\\s+department)\\b",
     .need = CT_FROM, .back = 48, .fwd = 48},
    {.rule = DR_INJ_IMPERSONATION, .anchors = "am",
     .re = "\\bi\\s+am\\s+(?:the|your)\\s+(?:real\\s+|actual\\s+)?(?:user|developer|admin\\w*|owner|"
           "creator|operator|system)\\b",
     .need = CT_I, .back = 8, .fwd = 40},
    {.rule = DR_INJ_IMPERSONATION, .anchors = "signed",
     .re = "\\bsigned\\s*,?\\s*(?:the\\s+)?(?:user|admin\\w*|developer|system|your\\s+user)\\b",
     .flags = P_ANCH, .fwd = 32},
    {.rule = DR_INJ_IMPERSONATION, .anchors = "query task request message turn",
     .re = "\\bnew\\s+user\\s+(?:query|task|request|message|turn)\\b", .need = CT_NEW | CT_USER,
     .back = 16, .fwd = 8},
    {.rule = DR_INJ_IMPERSONATION, .anchors = "user human",
     .re = "\\b(?:user|human)\\s*:\\s*(?:please\\s+)?(?:ignore|disregard|new\\s+task)", .post = ":",
     .back = 4, .fwd = 40},
    {.rule = DR_INJ_IMPERSONATION, .anchors = "message",
     .re = "\\bmessage\\s+from\\s+(?:the\\s+)?user\\s+to\\s+you\\b", .flags = P_ANCH,
     .need = CT_FROM | CT_USER, .fwd = 40},
    {.rule = DR_INJ_IMPERSONATION, .anchors = "gave completed",
     .re = "\\bthe\\s+task\\s+(?:that\\s+)?(?:i|the\\s+user)\\s+gave\\s+you\\b|\\b(?:the\\s+)?previous\\s+"
           "task\\s+has\\s+been\\s+completed\\b",
     .back = 40, .fwd = 40},

    /* -------------------------------------------------------- concealment */
    {.rule = DR_INJ_CONCEALMENT,
     .anchors = "tell telling inform informing notify notifying mention mentioning reveal revealing "
                "disclose disclosing show showing display displaying alert alerting let say saying "
                "report reporting expose explain",
     .re = "\\b(?:do\\s+not|don'?t|never|must\\s+not|should\\s+not|shouldn'?t|won'?t|will\\s+not|"
           "without)\\s+(?:ever\\s+|even\\s+|actually\\s+)?(?:tell(?:ing)?|inform(?:ing)?|notify(?:ing)?|"
           "alert(?:ing)?|mention(?:ing)?|reveal(?:ing)?|disclos(?:e|ing)|show(?:ing)?|let(?:ting)?|"
           "say(?:ing)?|report(?:ing)?|display(?:ing)?|expos(?:e|ing)|explain(?:ing)?)\\s+(?:(?:to\\s+)?"
           "(?:the\\s+)?(?:users?|humans?|anyone|anybody)\\b|(?:this|that|it|these|those|anything|"
           "any\\s+of\\s+this|the\\s+fact|about\\s+(?:this|it|that|these)|what\\s+you)\\b" GAP(80)
           "\\b(?:users?|humans?|anyone|anybody)\\b|(?:this|these\\s+(?:instructions|requirements|"
           "steps)|this\\s+(?:instruction|step|requirement|behaviou?r)|that\\s+you)\\b)",
     .need = CT_NEG, .back = 48, .fwd = 160},
    {.rule = DR_INJ_CONCEALMENT,
     .anchors = "shown displayed visible revealed disclosed mentioned reported surfaced exposed",
     .re = "\\b(?:not|never)\\s+(?:be\\s+)?(?:shown|displayed|visible|revealed|disclosed|mentioned|"
           "reported|surfaced|exposed)\\s+(?:\\w+\\s+){0,2}?(?:to|in|from)\\s+(?:the\\s+)?(?:users?|"
           "user-facing|user's|human)",
     .need = CT_NEG | CT_USER, .back = 48, .fwd = 80},
    {.rule = DR_INJ_CONCEALMENT, .anchors = "omitted hidden excluded concealed withheld suppressed",
     .re = "\\b(?:omitted|hidden|excluded|concealed|withheld|suppressed)\\s+from\\s+(?:the\\s+)?"
           "(?:users?\\b|(?:\\w+[\\s-]+){0,3}?(?:shown|displayed|visible)\\s+to\\s+the\\s+users?)",
     .flags = P_ANCH, .need = CT_FROM | CT_USER, .fwd = 100},
    {.rule = DR_INJ_CONCEALMENT, .anchors = "knowledge knowing noticing awareness consent",
     .re = "\\bwithout\\s+(?:the\\s+)?(?:user|human)(?:'s)?\\s+(?:knowledge|knowing|noticing|awareness|"
           "consent)|\\bwithout\\s+(?:them|anyone|the\\s+user)\\s+(?:knowing|noticing)",
     .need = CT_WITHOUT, .back = 48, .fwd = 8},
    {.rule = DR_INJ_CONCEALMENT, .anchors = "secret hidden confidential private",
     .re = "\\b(?:keep|kept|remain)\\s+(?:this\\s+|it\\s+|these\\s+)?(?:\\w+\\s+)?(?:secret|hidden|"
           "confidential|private)\\s+from\\s+(?:the\\s+)?users?\\b",
     .need = CT_FROM | CT_USER, .back = 48, .fwd = 40},
    {.rule = DR_INJ_CONCEALMENT,
     .anchors = "secretly silently covertly quietly discreetly stealthily invisibly",
     .re = "\\b(?:secretly|silently|covertly|quietly|discreetly|stealthily|invisibly)\\s+(?:\\w+\\s+)?"
           "(?:send|sends|exfiltrat\\w*|forward\\w*|copy|copies|upload\\w*|read|reads|collect\\w*|"
           "include\\w*|bcc|cc|add|adds|change|changes|modify|modifies|transmit\\w*|access\\w*|"
           "steal\\w*|harvest\\w*|replace\\w*|redirect\\w*)\\b|\\b(?:exfiltrat\\w*|send|sends|forward|"
           "upload|copy|steal|harvest|bcc)\\b" GAP(80) "\\b(?:silently|secretly|covertly)\\b",
     .back = 120, .fwd = 100},
    {.rule = DR_INJ_CONCEALMENT, .anchors = "telling informing notifying alerting asking",
     .re = "\\b(?:exfiltrat\\w*|send|sends|forward|upload|copy|steal|harvest|bcc)\\b" GAP(80)
           "\\bwithout\\s+(?:telling|informing|notifying|alerting|asking)\\b",
     .need = CT_WITHOUT, .back = 120, .fwd = 8},

    /* ------------------------------------------------------- exfiltration */
    {.rule = DR_INJ_EXFILTRATION,
     .anchors = "send sends sending forward forwarding email emails mail post upload uploading "
                "transmit exfiltrate exfiltrating leak copy copying bcc cc relay redirect pass "
                "passing include including append appending attach paste pasting share sharing "
                "submit write writing put add adding give report dump export",
     .re = "\\b" V_SEND "\\b" GAP(100) "\\b" OBJ GAP(100) DEST,
     .flags = P_ANCH, .need = CT_OBJ | CT_DEST, .fwd = 260},
    {.rule = DR_INJ_EXFILTRATION,
     .anchors = "send sends forward email mail post upload transmit exfiltrate leak copy bcc cc "
                "relay redirect pass include append attach paste share submit",
     .re = "\\b" V_SEND "\\b" GAP(60) "\\b(?:to|at)\\s+['\"]?" DEST_LIT,
     .sr = OFF, .sd = H, .flags = P_ANCH, .need = CT_DEST, .fwd = 140},
    {.rule = DR_INJ_EXFILTRATION,
     .anchors = "exfiltrate exfiltrating exfiltrates leak leaks steal steals harvest exfil",
     .re = "\\b(?:exfiltrat(?:e|es|ing)|exfil|leak(?:s|ing)?|steal(?:s|ing)?|harvest(?:s|ing)?)\\b"
           GAP(80) "(?:\\b" OBJ "|" DEST "|\\b(?:data|files?|contents?|information|details|"
           "everything))",
     .flags = P_ANCH, .fwd = 200},
    {.rule = DR_INJ_EXFILTRATION, .anchors = "bcc cc blind",
     .re = "\\b(?:bcc|cc|blind[- ]copy)\\s*:?\\s*(?:\\w+\\s+){0,3}?[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+",
     .sr = M, .sd = H, .flags = P_ANCH, .fwd = 80},
    {.rule = DR_INJ_EXFILTRATION, .anchors = "bcc cc",
     .re = "\\b(?:add|adds|include|includes|put|puts|copy|copies|place)\\s+(?:\\w+\\s+){0,2}?[\\w.+-]+"
           "@[\\w-]+(?:\\.[\\w-]+)+\\s+(?:in|as|to|into)\\s+(?:the\\s+)?(?:bcc|cc)\\b",
     .sr = M, .sd = H, .pre = "@", .back = 80, .fwd = 16},
    {.rule = DR_INJ_EXFILTRATION, .anchors = "recipient recipients destination receiver",
     .re = "\\b(?:change|set|replace|switch|modify|redirect)\\s+(?:the\\s+|all\\s+)?(?:recipients?|"
           "destination|to\\s+address|receiver)\\s+(?:\\w+\\s+){0,2}?(?:to|with)\\b",
     .sr = M, .sd = H, .need = CT_CHANGE, .back = 40, .fwd = 60},

    /* --------------------------------------------------------- tool calls */
    {.rule = DR_INJ_TOOL_CALL, .anchors = "use using call invoke run execute trigger",
     .re = "\\b(?:use|call|invoke|run|execute|trigger)\\s+(?:the\\s+)?['\"`]?[a-z][a-z0-9]*(?:[_-]"
           "[a-z0-9]+)+['\"`]?\\s+(?:tool|function|command)\\b|\\b(?:by\\s+)?using\\s+(?:the\\s+)?"
           "['\"`]?[a-z]\\w*_\\w+['\"`]?\\s+(?:tool|function)\\b",
     .flags = P_ANCH, .need = CT_TOOL, .back = 4, .fwd = 80},
    {.rule = DR_INJ_TOOL_CALL, .anchors = "run",
     .re = "\\brun\\s+[a-z]+_[a-z_]+\\s+on\\s+(?:the\\s+)?\\w+", .flags = P_ANCH, .fwd = 60},

    /* ------------------------------------------------------ tool shadowing */
    {.rule = DR_INJ_TOOL_SHADOWING, .anchors = "when whenever",
     .re = "\\bwhen(?:ever)?\\s+(?:this\\s+tool\\s+is\\s+(?:available|present|loaded|installed|enabled)|"
           "(?:the\\s+)?\\(?[\\w.-]+\\)?\\s+(?:[\\w.-]+\\s+)?(?:tool\\s+)?is\\s+(?:invoked|called|used|"
           "executed|run|available))\\b",
     .with = "\\b(?:change|modify|alter|replace|redirect|override|set|add|include|send|bcc|cc|always|"
             "must|instead)\\b",
     .flags = P_ANCH, .need = CT_INVOKED, .fwd = 100},
    {.rule = DR_INJ_TOOL_SHADOWING,
     .anchors = "behavior behaviour functionality output parameters arguments recipients recipient",
     .re = "\\b(?:modif(?:y|ies|ying)|chang(?:e|es|ing)|alter(?:s|ing)?|overrid(?:e|es|ing)|"
           "hijack(?:s|ing)?|updat(?:e|es|ing)|affect(?:s|ing)?)\\s+(?:the\\s+)?(?:behaviou?r|"
           "functionality|output|parameters|arguments|recipients?)\\s+of\\s+(?:(?:all|the|any|other|"
           "every)\\s+)*(?:\\w+\\s+){0,2}?(?:tools?|functions?|servers?)\\b",
     .need = CT_TOOL | CT_CHANGE, .back = 48, .fwd = 80},
    {.rule = DR_INJ_TOOL_SHADOWING, .anchors = "side effect effects",
     .re = "\\bside\\s+effects?\\s+on\\s+(?:the\\s+)?(?:also\\s+present\\s+)?[\\w-]+\\s+tool\\b",
     .need = CT_TOOL, .back = 16, .fwd = 60},
    {.rule = DR_INJ_TOOL_SHADOWING, .anchors = "mcp",
     .re = "\\(mcp[_-][a-z0-9_-]+\\)\\s*[a-z0-9]+(?:_[a-z0-9]+)*\\b", .pre = "(", .back = 8,
     .fwd = 60},

    /* ------------------------------------------------------ tool redirect */
    {.rule = DR_INJ_TOOL_REDIRECT,
     .anchors = "available replaced deprecated removed disabled moved longer instead",
     .re = "\\b(?:this|the)\\s+tool\\s+(?:is\\s+)?(?:no\\s+longer\\s+(?:available|supported|works?)|"
           "has\\s+been\\s+(?:replaced|deprecated|removed|disabled|moved))\\b|\\bhas\\s+been\\s+"
           "replaced\\s+by\\s+(?:the\\s+)?['\"`]?[\\w-]+['\"`]?\\s+tool\\b|\\bplease\\s+use\\s+(?:the"
           "\\s+)?['\"`]?[\\w-]+['\"`]?\\s+tool\\s+instead\\b",
     .need = CT_TOOL, .back = 48, .fwd = 60},

    /* ------------------------------------------------------------- threat */
    {.rule = DR_INJ_THREAT, .anchors = "otherwise",
     .re = "\\botherwise\\s*,?\\s+(?:the\\s+|this\\s+|it\\s+)?(?:tool|system|server|application|app|"
           "function|request|operation|it|everything)?\\s*(?:will|would|may|might|could)\\s+(?:not\\s+"
           "work|fail|crash|break|stop|error|be\\s+(?:blocked|disabled|terminated))",
     .flags = P_ANCH, .need = CT_WILL, .fwd = 80},
    {.rule = DR_INJ_THREAT, .anchors = "crash crashes lost deleted destroyed erased corrupted",
     .re = "\\b(?:the\\s+)?(?:system|application|app|server|tool|computer)\\s+will\\s+crash\\b|"
           "\\b(?:all\\s+)?(?:user\\s+|your\\s+)?data\\s+will\\s+be\\s+(?:lost|deleted|destroyed|"
           "erased|corrupted)\\b|\\b(?:sending|proceeding|continuing|doing\\s+(?:so|anything))\\s+"
           "without\\s+(?:this|these|it)\\s+will\\s+(?:cause|result|lead)",
     .need = CT_WILL, .back = 60, .fwd = 40},
    {.rule = DR_INJ_THREAT, .anchors = "stop",
     .re = "\\b(?:system|application|tool|server)\\s+will\\s+stop\\s+working\\b", .need = CT_WILL,
     .back = 32, .fwd = 16},
    {.rule = DR_INJ_THREAT, .anchors = "failure",
     .re = "\\bfailure\\s+to\\s+(?:comply|verify|do\\s+so|follow|include|provide)\\b" GAP(60)
           "\\b(?:will|may|could)\\s+(?:result|cause|lead)",
     .flags = P_ANCH, .fwd = 120},
    {.rule = DR_INJ_THREAT, .anchors = "important",
     .re = "\\b(?:very\\s+){2,}important\\b", .sr = L, .sd = L, .need = CT_VERY, .back = 40,
     .fwd = 8},
    {.rule = DR_INJ_THREAT, .anchors = "important critical vital",
     .re = "\\b(?:it\\s+is|this\\s+is)\\s+(?:extremely|critically|absolutely)\\s+(?:important|critical|"
           "vital)\\s+that\\s+you\\b",
     .sr = L, .sd = L, .need = CT_INTENS, .back = 40, .fwd = 16},
    {.rule = DR_INJ_THREAT, .anchors = "fired punished terminated harmed lose",
     .re = "\\b(?:you|the\\s+user)\\s+will\\s+(?:be\\s+)?(?:fired|punished|terminated|harmed|lose\\s+"
           "(?:access|your|all))",
     .need = CT_WILL, .back = 32, .fwd = 32},

    /* --------------------------------------------------------- preference */
    {.rule = DR_INJ_PREFERENCE,
     .anchors = "always only choose use call select pick prefer try prioritize prioritise",
     .re = "\\b(?:always|only)\\s+(?:use|choose|call|select|pick|prefer|try)\\s+this\\s+(?:tool|"
           "function|server|one)\\s+(?:first|for\\s+(?:all|every|any)\\b|over\\s+(?:all|any|every)\\b|"
           "before\\s+(?:all|any)\\b|instead\\s+of\\s+(?:all|any)\\b)|\\b(?:choose|use|call|try|select|"
           "pick)\\s+this\\s+(?:tool|function)\\s+(?:first|before\\s+(?:any|all)\\s+(?:other|others)|"
           "over\\s+(?:any|all)\\s+(?:other|others|alternatives))|\\bprioriti[sz]e\\s+this\\s+(?:tool|"
           "function)\\b",
     .flags = P_ANCH, .need = CT_TOOL, .fwd = 60},
    {.rule = DR_INJ_PREFERENCE, .anchors = "use must",
     .re = "\\byou\\s+must\\s+use\\s+this\\s+tool\\s+for\\s+(?:all|every|any)\\b",
     .need = CT_TOOL | CT_YOU, .back = 16, .fwd = 40},
    {.rule = DR_INJ_PREFERENCE, .anchors = "use ignore",
     .re = "\\b(?:(?:do\\s+not|don'?t|never)\\s+use|ignore)\\s+(?:any\\s+|all\\s+|the\\s+)*(?:other|"
           "alternative|competing)\\s+(?:\\w+\\s+)?(?:tools?|functions?|servers?|converters?|"
           "services?|calculators?)\\b",
     .need = CT_TOOL | CT_ALT, .back = 24, .fwd = 60},
    {.rule = DR_INJ_PREFERENCE, .anchors = "best greatest only most ultimate top one",
     .re = "\\bthis\\s+is\\s+the\\s+(?:best|greatest|only|most\\s+(?:accurate|powerful|advanced|"
           "reliable)|#?1|number\\s+one|ultimate|top)\\s+(?:\\w+\\s+){0,4}?(?:tools?|functions?|"
           "servers?|converters?|calculators?|options?|choices?)\\b|\\b(?:the\\s+)?(?:best|only|#1)"
           "\\s+(?:\\w+\\s+){0,2}?(?:tools?|converters?|calculators?)\\s+(?:available|in\\s+the\\s+"
           "world|ever|you\\s+should\\s+(?:use|trust))\\b",
     .need = CT_TOOL, .back = 40, .fwd = 80},
    {.rule = DR_INJ_PREFERENCE,
     .anchors = "superior better accurate outperforms outperform beats inferior outdated inaccurate",
     .re = "\\b(?:far\\s+)?(?:superior|better|more\\s+accurate)\\s+(?:\\w+\\s+)?(?:to|than)\\s+(?:all\\s+|"
           "any\\s+)?(?:other|standard|competing|inferior)?\\s*(?:tools?|alternatives|competitors|"
           "calculators|converters|options)\\b|\\b(?:outperforms?|beats)\\s+(?:all\\s+)?(?:other|"
           "competing|rival)\\b|\\b(?:inferior|outdated|inaccurate)\\s+(?:alternatives|tools|"
           "converters|options)\\b",
     .any = CT_TOOL | CT_ALT, .back = 24, .fwd = 80},
    {.rule = DR_INJ_PREFERENCE, .anchors = "ranked rated award offer expires",
     .re = "(?:#\\s?1|number\\s+one)\\s+(?:ranked|rated)\\b|\\b(?:ranked|rated)\\s+(?:#\\s?1|number\\s+"
           "one)|\\baward[- ]winning\\b|\\blimited\\s+time\\s+offer\\b|\\baccess\\s+expires\\b",
     .back = 16, .fwd = 40},

    /* -------------------------------------------------- credential request */
    {.rule = DR_INJ_CREDENTIAL_REQUEST,
     .anchors = "provide providing enter entering share sharing confirm confirming send sending "
                "type typing give giving reveal input submit paste tell verify verifying reenter",
     .re = "\\b(?:provid(?:e|ing)|enter(?:ing)?|shar(?:e|ing)|confirm(?:ing)?|send(?:ing)?|"
           "typ(?:e|ing)|giv(?:e|ing)|reveal(?:ing)?|input(?:ting)?|submit(?:ting)?|past(?:e|ing)|"
           "tell\\s+(?:me|us)|verify(?:ing)?|re-?enter)\\b[\\s:*-]+(?:(?:me|us)\\s+)?(?:with\\s+)?"
           "(?:your|the\\s+user'?s?|their|the)\\s+(?:\\S+\\s+){0,3}?" CREDOBJ,
     .flags = P_NEG | P_ANCH, .need = CT_CRED, .fwd = 120},
    {.rule = DR_INJ_CREDENTIAL_REQUEST, .anchors = "ask respond reply",
     .re = "\\bask\\s+(?:the\\s+)?user\\s+(?:to\\s+(?:enter|provide|type|share|confirm|send|give)|for)"
           "\\s+(?:\\S+\\s+){0,4}?" CREDOBJ "|\\b(?:respond|reply)\\s+with\\s*:?\\s*[\"']?my\\s+"
           "(?:credentials|password|api\\s+key)",
     .flags = P_NEG | P_ANCH, .need = CT_CRED, .fwd = 120},

    /* ------------------------------------------------------------ pre-task */
    {.rule = DR_INJ_PRE_TASK, .anchors = "before",
     .re = "\\bbefore\\s+(?:using|calling|invoking|running|you\\s+(?:can\\s+)?(?:use|call|solve|"
           "answer|respond|reply|proceed|continue|do|complete)|processing|responding|replying|"
           "answering|proceeding|continuing)\\b" GAP(60) ",?\\s*(?:please\\s+)?(?:you\\s+(?:must|"
           "need\\s+to|should)\\s+)?(?:first\\s+)?(?:read|call|send|use|execute|run|do\\s+the\\s+"
           "following|fetch|open|search|collect|include|pass|write|email|upload|check)\\b",
     .sr = M, .sd = L, .flags = P_ANCH, .need = CT_BEFOREX, .fwd = 120},
    {.rule = DR_INJ_PRE_TASK, .anchors = "following first",
     .re = "\\bplease\\s+do\\s+the\\s+following\\s+first\\b", .need = CT_PLEASE, .back = 32,
     .fwd = 32},

    /* ---------------------------------------------------- sensitive paths */
    {.rule = DR_INJ_SENSITIVE_PATH,
     .anchors = "ssh id_rsa id_ed25519 id_ecdsa id_dsa env aws kube docker npmrc pypirc netrc "
                "credentials gnupg passwd shadow sudoers gshadow mcp claude_desktop_config "
                "bash_history zsh_history environ gcloud application_default_credentials wallet azure",
     .re = SPATH, .flags = P_NODOWN, .back = 40, .fwd = 64},
    {.rule = DR_INJ_SENSITIVE_READ,
     .anchors = "ssh id_rsa id_ed25519 id_ecdsa id_dsa env aws kube docker npmrc pypirc netrc "
                "credentials gnupg passwd shadow sudoers gshadow mcp claude_desktop_config "
                "bash_history zsh_history environ application_default_credentials wallet shell "
                "browser kubernetes keychain",
     .re = SPATH_SECRET, .with = V_READ_DEF, .sr = OFF, .sd = H, .flags = P_NODOWN, .back = 40,
     .fwd = 64},
    {.rule = DR_INJ_SENSITIVE_READ,
     .anchors = "ssh id_rsa id_ed25519 id_ecdsa id_dsa env aws kube docker npmrc pypirc netrc "
                "credentials gnupg shadow sudoers gshadow mcp claude_desktop_config bash_history "
                "zsh_history environ application_default_credentials wallet shell browser "
                "kubernetes keychain",
     .re = SPATH_SECRET, .with = V_READ_RES, .sr = M, .sd = OFF, .flags = P_NODOWN, .back = 40,
     .fwd = 64},

    /* ------------------------------------------------------ hidden comment */
    {.rule = DR_INJ_HIDDEN_COMMENT,
     .anchors = "ai llm assistant agent instruction instructions directive directives",
     .re = "<!--(?:(?!-->)[\\s\\S]){0,200}?(?:\\b(?:ai|llm|assistant|agent)\\b|\\binstructions?\\b|"
           "\\bdirectives?\\b)",
     .flags = P_NODOWN, .pre = "<!--", .back = 220, .fwd = 24},
};

#undef L
#undef M
#undef H

/* co-trigger words */
static const struct {
    const char *words;
    uint32_t cls;
} cotrig[] = {
    {"credentials creds password passwords passphrase secret secrets token tokens key keys ssh "
     "id_rsa id_ed25519 env environment cookies cookie session history conversation conversations "
     "chats messages emails prompt seed mnemonic 2fa mfa backup private rows row contents content "
     "data information details files records repos repository repositories list names mcp "
     "integration_tokens json api",
     CT_OBJ},
    {"attacker attackers external remote third webhook http https url endpoint server recipient "
     "field parameter param argument reply response readme ticket comment issue output public "
     "analytics collection com net org io ru cn xyz top biz info club as",
     CT_DEST},
    {"tool tools function functions command commands server servers service services converter "
     "converters calculator calculators",
     CT_TOOL},
    {"instructions instruction prompt prompts directive directives guideline guidelines guardrail "
     "guardrails programming safeguard safeguards restrictions constraints policy policies rules "
     "training ethics filter filters context messages conversation commands checks limitations "
     "orders",
     CT_NOUN},
    {"not never don dont without shouldn won cannot mustn doesn t", CT_NEG},
    {"user users human humans anyone anybody", CT_USER},
    {"you", CT_YOU},
    {"as", CT_AS},
    {"without", CT_WITHOUT},
    {"guardrails guardrail safeguards safeguard safety ethical security censorship alignment "
     "content filters filtering moderation restrictions limitations validation checks sanitization",
     CT_SAFETY},
    {"full unrestricted unlimited elevated root admin administrator administrative superadmin "
     "superuser maximum system god privileges",
     CT_PRIV},
    {"new real actual true updated revised only", CT_NEW},
    {"from", CT_FROM},
    {"i", CT_I},
    {"invoked called used executed run available present loaded installed enabled", CT_INVOKED},
    {"will would may might could", CT_WILL},
    {"very", CT_VERY},
    {"extremely critically absolutely", CT_INTENS},
    {"password passcode passphrase key token credentials login seed recovery mnemonic private 2fa "
     "mfa otp code codes cvv cvv2 cvc cvc2 security pin ssn card bank social",
     CT_CRED},
    {"using calling invoking running you processing responding replying answering proceeding "
     "continuing",
     CT_BEFOREX},
    {"please", CT_PLEASE},
    {"jailbreak jailbroken god dan unrestricted unfiltered uncensored evil privileged", CT_MODE},
    {"note notes message instructions instruction directive directives commands command request "
     "reminder",
     CT_NOTE},
    {"reading processing reads analyzing analysing seeing viewing parsing dear hey hello attention "
     "attn",
     CT_READING},
    {"above before previously", CT_ABOVE},
    {"input inputs commands command queries requests request content instructions data users user "
     "tool implicitly trusted admin authorized privileged",
     CT_TRUSTOBJ},
    {"change changes set replace switch modify modifies redirect alter alters hijack update "
     "updates affect affects override overrides",
     CT_CHANGE},
    {"do", CT_DO},
    {"security safety trust privilege access permission", CT_LEVEL},
    {"urgent critical important", CT_URGENT},
    {"other others alternative alternatives competing competitors", CT_ALT},
};

/* ------------------------------------------------------------ trigger table */

static uint32_t hash_word(const char *w, size_t n)
{
    return word_hash((const unsigned char *)w, n, n);
}

static struct trig_entry *trig_slot(struct detect_set *ds, const char *w, size_t n, bool create)
{
    uint32_t h = hash_word(w, n);
    size_t i = h & ds->trig_mask;
    for (;;) {
        struct trig_entry *e = &ds->trig[i];
        if (!e->used) {
            if (!create)
                return NULL;
            e->used = 1;
            e->hash = h;
            ds->bloom[(h >> 16) / 64] |= 1ull << ((h >> 16) % 64);
            unsigned sh = shape_of((const unsigned char *)w, n);
            ds->shape[sh / 64] |= 1ull << (sh % 64);
            e->len = (uint8_t)n;
            for (size_t k = 0; k < n; k++)
                e->word[k] = (char)detect_lc[(unsigned char)w[k]];
            ds->tkey[i].hash = h;
            ds->tkey[i].len = (uint8_t)n;
            return e;
        }
        if (e->hash == h && e->len == n && memcmp(e->word, w, n) == 0)
            return e;
        i = (i + 1) & ds->trig_mask;
    }
}

/* Calls fn for every space-separated word of list. */
static int each_word(const char *list, int (*fn)(void *, const char *, size_t), void *ud)
{
    const char *p = list;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        const char *q = p;
        while (*q != '\0' && *q != ' ')
            q++;
        if (q > p && fn(ud, p, (size_t)(q - p)) < 0)
            return -1;
        p = q;
    }
    return 0;
}

struct add_ctx {
    struct detect_set *ds;
    size_t pat;
    uint32_t cls;
    char *err;
    size_t errlen;
};

static int add_anchor(void *ud, const char *w, size_t n)
{
    struct add_ctx *a = ud;
    if (n >= TRIG_WORD_MAX) {
        snprintf(a->err, a->errlen, "anchor word too long: %.*s", (int)n, w);
        return -1;
    }
    struct trig_entry *e = trig_slot(a->ds, w, n, true);
    struct trig_key *key = &a->ds->tkey[e - a->ds->trig];
    if (a->cls != 0) {
        e->classes |= a->cls;
        key->classes = e->classes;
        return 0;
    }
    if (e->npats >= TRIG_MAX_PATS) {
        snprintf(a->err, a->errlen, "too many patterns on anchor %.*s", (int)n, w);
        return -1;
    }
    for (size_t k = 0; k < e->npats; k++)
        if (e->pats[k] == a->pat)
            return 0;
    e->pats[e->npats++] = (uint8_t)a->pat;
    key->npats = e->npats;
    return 0;
}

static pcre2_code *compile_re(const char *re, uint32_t opts, char *err, size_t errlen)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS | opts, &ec,
                                  &eo, NULL);
    if (c == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        snprintf(err, errlen, "pattern error at %zu: %s: %.60s", (size_t)eo, (const char *)msg,
                 re + (eo > 20 ? eo - 20 : 0));
        return NULL;
    }
    return c; /* JIT code comes at its first run: jit_ready() */
}

/* Whether re (whose state is *st) runs as JIT code, making that code when it
 * runs for the first time. Detection sets are shared between threads: the
 * code is made under a lock and published with its state, and no thread
 * matches with a pattern before its state is settled, so pcre2_jit_compile()
 * never changes a pattern another thread is matching with. */
static bool jit_ready(pcre2_code *re, _Atomic uint8_t *st)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    uint8_t v = atomic_load_explicit(st, memory_order_acquire);
    if (v == INJ_JIT_NOT_YET) {
        pthread_mutex_lock(&lock);
        v = atomic_load_explicit(st, memory_order_relaxed);
        if (v == INJ_JIT_NOT_YET) {
            size_t js = 0;
            v = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0 &&
                        pcre2_pattern_info(re, PCRE2_INFO_JITSIZE, &js) == 0 && js > 0
                    ? INJ_JIT_READY
                    : INJ_JIT_NONE;
            atomic_store_explicit(st, v, memory_order_release);
        }
        pthread_mutex_unlock(&lock);
    }
    return v == INJ_JIT_READY;
}

/* Whether pattern pt runs in context ctx. */
static bool pat_on(const struct inj_pattern *pt, enum detect_context ctx)
{
    return !(pt->sev[ctx] == OFF ||
             (pt->sev[ctx] == 0 && detect_rule_info(pt->rule)->severity[ctx] == DETECT_SEV_NONE));
}

/* Lays out the patterns of every trigger word in ds->refs. */
static int inj_refs(struct detect_set *ds, char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t t = 0; t <= ds->trig_mask; t++)
        total += ds->trig[t].npats;
    if (total > UINT16_MAX) {
        snprintf(err, errlen, "too many pattern references");
        return -1;
    }
    ds->refs = calloc(total != 0 ? total : 1, sizeof(*ds->refs));
    if (ds->refs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t o = 0;
    for (size_t t = 0; t <= ds->trig_mask; t++) {
        const struct trig_entry *e = &ds->trig[t];
        ds->tkey[t].ref0 = (uint16_t)o;
        for (size_t k = 0; k < e->npats; k++) {
            const struct inj_pattern *pt = &ds->pat[e->pats[k]];
            struct pat_ref *r = &ds->refs[o++];
            r->need = pt->need;
            r->any = pt->any;
            r->back = pt->back;
            r->fwd = pt->fwd;
            r->pat = e->pats[k];
            for (unsigned c = 0; c < DETECT_CTX__COUNT; c++)
                if (pat_on(pt, (enum detect_context)c))
                    r->on |= (uint8_t)(1u << c);
            r->anch = (pt->flags & P_ANCH) != 0;
        }
    }
    return 0;
}

int inj_compile(struct detect_set *ds, char *err, size_t errlen)
{
    size_t np = sizeof(pats) / sizeof(pats[0]);
    if (np > INJ_MAX_PATTERNS) {
        snprintf(err, errlen, "too many injection patterns");
        return -1;
    }
    size_t cap = 2048; /* about 600 words: a third full, probes stay short */
    ds->trig = calloc(cap, sizeof(*ds->trig));
    ds->tkey = calloc(cap, sizeof(*ds->tkey));
    if (ds->trig == NULL || ds->tkey == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ds->trig_mask = cap - 1;
    for (size_t i = 0; i < np; i++) {
        const struct pat_def *d = &pats[i];
        struct inj_pattern *p = &ds->pat[i];
        /* flags and co-trigger classes use disjoint bits: a swapped
         * initializer is a build defect caught here */
        if ((d->flags & ~P_ALL) != 0 || (d->need & ~CT_ALL) != 0 || (d->any & ~CT_ALL) != 0) {
            snprintf(err, errlen, "pattern %zu: flags/need out of range", i);
            return -1;
        }
        p->rule = d->rule;
        /* anchoring is compiled in: JIT code does not take PCRE2_ANCHORED at
         * match time (the interpreter would run instead) */
        p->re = compile_re(d->re, (d->flags & P_ANCH) ? PCRE2_ANCHORED : 0, err, errlen);
        if (p->re == NULL)
            return -1;
        atomic_init(&p->jit, INJ_JIT_NOT_YET);
        atomic_init(&p->with_jit, INJ_JIT_NOT_YET);
        if (d->with != NULL) {
            p->with = compile_re(d->with, 0, err, errlen);
            if (p->with == NULL)
                return -1;
        }
        p->sev[DETECT_CTX_RESULT] = d->sr;
        p->sev[DETECT_CTX_DEFINITION] = d->sd;
        p->flags = d->flags;
        p->need = d->need;
        p->any = d->any;
        p->pre = d->pre;
        p->prelen = d->pre != NULL ? strlen(d->pre) : 0;
        p->post = d->post;
        p->back = d->back;
        p->fwd = d->fwd;
        ds->npat = i + 1;
        struct add_ctx a = {ds, i, 0, err, errlen};
        if (each_word(d->anchors, add_anchor, &a) < 0)
            return -1;
    }
    for (size_t i = 0; i < sizeof(cotrig) / sizeof(cotrig[0]); i++) {
        struct add_ctx a = {ds, 0, cotrig[i].cls, err, errlen};
        if (each_word(cotrig[i].words, add_anchor, &a) < 0)
            return -1;
    }
    return inj_refs(ds, err, errlen);
}

void inj_free(struct detect_set *ds)
{
    for (size_t i = 0; i < ds->npat; i++) {
        pcre2_code_free(ds->pat[i].re);
        pcre2_code_free(ds->pat[i].with);
    }
    ds->npat = 0;
    free(ds->trig);
    free(ds->tkey);
    free(ds->refs);
    ds->trig = NULL;
    ds->tkey = NULL;
    ds->refs = NULL;
}

/* ------------------------------------------------------------------ scanning */

int inj_hits_grow(struct dscan *s)
{
    size_t nc = s->caphits >= 32 ? s->caphits * 2 : 64;
    struct trig_hit *nh = realloc(s->hits_own ? s->hits : NULL, nc * sizeof(*nh));
    if (nh == NULL)
        return -1;
    if (!s->hits_own && s->nhits > 0)
        memcpy(nh, s->hits, s->nhits * sizeof(*nh));
    s->hits = nh;
    s->caphits = nc;
    s->hits_own = true;
    return 0;
}

int inj_word(struct dscan *s, const unsigned char *p, size_t i, size_t j, uint32_t h, bool has_us)
{
    const struct detect_set *ds = s->ds;
    if (j - i < TRIG_WORD_MAX) {
        long te = inj_trigger_slot(ds, p + i, j - i, h);
        if (te >= 0 && inj_hit_push(s, i, j - i, (size_t)te) < 0)
            return -1;
    }
    if (!has_us)
        return 0;
    size_t sub = i;
    for (size_t k = i; k <= j; k++) {
        if (k == j || p[k] == '_') {
            if (k > sub && k - sub < TRIG_WORD_MAX) {
                long te = inj_trigger_slot(ds, p + sub, k - sub,
                                           word_hash(p + sub, k - sub, s->in - sub));
                if (te >= 0 && inj_hit_push(s, sub, k - sub, (size_t)te) < 0)
                    return -1;
            }
            sub = k + 1;
        }
    }
    return 0;
}

int inj_find_triggers(struct dscan *s)
{
    const unsigned char *p = s->ip;
    size_t n = s->in, i = 0;
    s->nhits = 0;
    while (i < n) {
        if (!(detect_cls[p[i]] & C_WORD)) {
            i++;
            continue;
        }
        size_t j = i;
        unsigned acc = 0;
        while (j < n && (detect_cls[p[j]] & C_WORD))
            acc |= detect_cls[p[j++]];
        if (!(acc & C_UNDER) && !inj_maybe(s->ds, p + i, j - i)) {
            i = j;
            continue;
        }
        bool has_us;
        uint32_t h = word_hash_us(p + i, j - i, n - i, &has_us);
        if ((has_us || inj_bloom(s->ds, h)) && inj_word(s, p, i, j, h, has_us) < 0)
            return -1;
        i = j;
    }
    return 0;
}

/* classes of the co-trigger words in [from, to) around hit hi */
static uint32_t classes_near(const struct dscan *s, size_t hi, size_t from, size_t to)
{
    uint32_t acc = 0;
    for (size_t k = hi; k > 0 && s->hits[k - 1].pos >= from; k--)
        acc |= s->hits[k - 1].classes;
    for (size_t k = hi; k < s->nhits && s->hits[k].pos < to; k++)
        acc |= s->hits[k].classes;
    return acc;
}

/* sentence around [a, b) in the injection view */
static void sentence(const struct dscan *s, size_t a, size_t b, size_t *sa, size_t *sb)
{
    const unsigned char *p = s->ip;
    size_t i = a;
    while (i > 0 && a - i < 300) {
        unsigned char c = p[i - 1];
        if (c == '\n' || ((c == '.' || c == '!' || c == '?') && (i == a || p[i] == ' ')))
            break;
        i--;
    }
    *sa = i;
    i = b;
    while (i < s->in && i - b < 300) {
        unsigned char c = p[i];
        if (c == '\n' || ((c == '.' || c == '!' || c == '?') && (i + 1 == s->in || p[i + 1] == ' ')))
            break;
        i++;
    }
    *sb = i;
}

static bool ci_prefix_word(const unsigned char *p, size_t n, const char *w)
{
    size_t m = strlen(w);
    if (m > n)
        return false;
    for (size_t i = 0; i < m; i++)
        if (detect_lc[p[i]] != (unsigned char)w[i])
            return false;
    return m == n || !d_alnum(p[m]);
}

/* a negation within the four words before a */
static bool negated(const struct dscan *s, size_t a)
{
    static const char *const neg[] = {"never", "not", "no", "don't", "dont", "doesn't", "won't",
                                      "cannot", "can't", "nobody", "without", "n't", NULL};
    const unsigned char *p = s->ip;
    size_t i = a;
    for (int w = 0; w < 4 && i > 0; w++) {
        while (i > 0 && !d_alnum(p[i - 1]) && p[i - 1] != '\'') {
            if (p[i - 1] == '.' || p[i - 1] == '\n' || p[i - 1] == '!' || p[i - 1] == '?')
                return false;
            i--;
        }
        size_t e = i;
        while (i > 0 && (d_alnum(p[i - 1]) || p[i - 1] == '\''))
            i--;
        for (size_t k = 0; neg[k] != NULL; k++)
            if (ci_prefix_word(p + i, e - i, neg[k]) ||
                (e - i > 3 && memcmp(p + e - 3, "n't", 3) == 0))
                return true;
    }
    return false;
}

static bool quote_byte(const unsigned char *p, size_t n, size_t i, bool before)
{
    if (p[i] == '"' || p[i] == '\'' || p[i] == '`')
        return true;
    /* U+201C/201D/2018/2019 end in 0x9c 0x9d 0x98 0x99 after E2 80 */
    if (before && i >= 2 && p[i - 2] == 0xe2 && p[i - 1] == 0x80 &&
        (p[i] == 0x9c || p[i] == 0x9d || p[i] == 0x98 || p[i] == 0x99))
        return true;
    if (!before && i + 2 < n && p[i] == 0xe2 && p[i + 1] == 0x80 &&
        (p[i + 2] == 0x9c || p[i + 2] == 0x9d || p[i + 2] == 0x98 || p[i + 2] == 0x99))
        return true;
    return false;
}

/* Quoted ("... 'ignore previous instructions' ...") or introduced as an
 * example or a topic ("phrases such as", "attackers may try to make the
 * model ignore ..."). */
static bool discussed(const struct dscan *s, size_t a, size_t b)
{
    static const char *const cues[] = {
        "such as", "like \"", "like '", "e.g.", "for example", "phrases", "strings", "attacker",
        "known as", "called", "try to make", "tries to make", "trying to make", "detects",
        "detect ", "detection", "blocks", "examples of", "prompt injection", "prompt-injection",
        "injection attack", "pattern", "test string", "for instance", "jailbreak attempt", NULL};
    const unsigned char *p = s->ip;
    size_t n = s->in;
    size_t i = a;
    while (i > 0 && a - i < 3 && (p[i - 1] == ' ' || p[i - 1] == '*'))
        i--;
    bool qb = i > 0 && quote_byte(p, n, i - 1, true);
    size_t j = b;
    while (j < n && j - b < 3 && (p[j] == ' ' || p[j] == '*' || p[j] == '.' || p[j] == ','))
        j++;
    bool qa = j < n && quote_byte(p, n, j, false);
    if (qb && qa)
        return true;
    size_t sa, sb;
    sentence(s, a, b, &sa, &sb);
    size_t from = a > 80 && a - 80 > sa ? a - 80 : sa;
    for (size_t k = 0; cues[k] != NULL; k++)
        if (str_casestr_n((const char *)p + from, a - from, cues[k]) != NULL)
            return true;
    return false;
}

static void report(struct dscan *s, const struct inj_pattern *pt, size_t fs, size_t fe)
{
    if (pt->sev[s->ctx] == OFF)
        return;
    enum detect_severity sev = (enum detect_severity)pt->sev[s->ctx];
    unsigned flags = 0;
    const struct detect_rule_info *ri = detect_rule_info(pt->rule);
    enum detect_severity eff = sev != DETECT_SEV_NONE ? sev : ri->severity[s->ctx];
    if (eff == DETECT_SEV_NONE)
        return;
    if (!(pt->flags & P_NODOWN) && eff > DETECT_SEV_LOW && discussed(s, fs, fe)) {
        eff = DETECT_SEV_LOW;
        flags |= DETECT_F_QUOTED;
    }
    size_t os, oe;
    fold_map(s, fs, fe, &os, &oe);
    char ev[DETECT_EVIDENCE_MAX];
    ev_excerpt(s->ip + fs, fe - fs, ev, sizeof(ev));
    dscan_add(s, pt->rule, os, oe, eff, flags, ev);
}

/* The co-trigger gate: the classes a pattern needs (all of `need`, one of
 * `any`) occur near hit hi. */
static bool co_triggers_near(const struct dscan *s, uint32_t need, uint32_t any, size_t hi,
                             size_t from, size_t to)
{
    if (need == 0 && any == 0)
        return true;
    uint32_t acc = classes_near(s, hi, from, to);
    return (acc & need) == need && (any == 0 || (acc & any) != 0);
}

/* The other cheap checks before a pattern runs near hit th (the callers
 * apply the co-trigger gate first). */
static bool gates_pass(const struct dscan *s, const struct inj_pattern *pt, size_t hi, size_t from,
                       size_t to)
{
    const struct trig_hit *th = &s->hits[hi];
    const unsigned char *p = s->ip;
    if (pt->flags & P_US) {
        bool before = th->pos > 0 && (p[th->pos - 1] == '_' || p[th->pos - 1] == '-');
        bool after = th->pos + th->len < s->in &&
                     (p[th->pos + th->len] == '_' || p[th->pos + th->len] == '-');
        if (!before && !after)
            return false;
    }
    if (pt->pre != NULL) {
        size_t pl = pt->prelen;
        size_t end = th->pos + th->len;
        if (end - from < pl || memmem(p + from, end - from, pt->pre, pl) == NULL)
            return false;
    }
    if (pt->post != NULL) {
        size_t a = th->pos + th->len;
        bool found = false;
        for (const char *c = pt->post; *c != '\0' && !found; c++)
            found = a < to && memchr(p + a, *c, to - a) != NULL;
        if (!found)
            return false;
    }
    return true;
}

static int match(struct dscan *s, pcre2_code *re, _Atomic uint8_t *st, size_t len, size_t off)
{
    bool jit = jit_ready(re, st);
    if (s->md == NULL && (s->md = pcre2_match_data_create(16, NULL)) == NULL) {
        s->err = -1;
        return PCRE2_ERROR_NOMEMORY;
    }
    if (!jit)
        return pcre2_match(re, s->ip, len, off, 0, s->md, s->ds->mctx);
    /* JIT code reads up to 16 bytes past the subject (SIMD): near the end of
     * the caller's text, the patterns run on a copy with zeroed padding
     * (folded views have their own) */
    const unsigned char *subj = s->ip;
    if (subj == s->p && len + DETECT_PAD > s->n) {
        if (s->padded == NULL) {
            s->padded = malloc(s->n + DETECT_PAD);
            if (s->padded == NULL) {
                s->err = -1;
                return PCRE2_ERROR_NOMEMORY;
            }
            memcpy(s->padded, s->p, s->n);
            memset(s->padded + s->n, 0, DETECT_PAD);
        }
        subj = s->padded;
    }
    return pcre2_jit_match(re, subj, len, off, 0, s->md, s->ds->mctx);
}

/* Runs pattern pt at [off, to); reports every match (only the first for an
 * anchored pattern). */
static void run_window(struct dscan *s, const struct inj_pattern *cpt, size_t off, size_t to)
{
    /* The set is read-only but for the JIT state of its patterns (jit_ready). */
    struct inj_pattern *pt = (struct inj_pattern *)cpt;
    bool anchored = (pt->flags & P_ANCH) != 0;
    while (off < to) {
        int rc = match(s, pt->re, &pt->jit, to, off);
        if (rc < 0)
            return;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) {
            off = ms + 1;
            if (anchored)
                return;
            continue;
        }
        bool ok = true;
        if (pt->with != NULL) {
            size_t sa, sb;
            sentence(s, ms, me, &sa, &sb);
            ok = match(s, pt->with, &pt->with_jit, sb, sa) >= 0;
        }
        if (ok && (pt->flags & P_NEG) && negated(s, ms))
            ok = false;
        if (ok)
            report(s, pt, ms, me);
        if (anchored)
            return;
        off = me;
    }
}

/* Runs pattern pi (pt) near hit h, window [from, to), if its gates pass. */
static void run_near(struct dscan *s, size_t pi, size_t h, size_t from, size_t to,
                     uint32_t *done_end)
{
    const struct inj_pattern *pt = &s->ds->pat[pi];
    const struct trig_hit *th = &s->hits[h];
    if (!gates_pass(s, pt, h, from, to))
        return;
    if (pt->flags & P_ANCH) {
        /* the match starts at the anchor word, or at markup just before it */
        size_t st = th->pos;
        while (st > from && strchr("<[|/#=*-(", s->ip[st - 1]) != NULL && s->ip[st - 1] != 0)
            st--;
        if (st < th->pos) {
            size_t before = s->out->n;
            run_window(s, pt, st, to);
            if (s->out->n != before)
                return;
        }
        run_window(s, pt, th->pos, to);
        return;
    }
    run_window(s, pt, from, to);
    done_end[pi] = (uint32_t)(to > UINT32_MAX ? UINT32_MAX : to);
}

/* The reference: every pattern of every hit, gates in full. */
static void scan_ref(struct dscan *s, uint32_t *done_end)
{
    const struct detect_set *ds = s->ds;
    for (size_t h = 0; h < s->nhits && s->err == 0; h++) {
        const struct trig_hit *th = &s->hits[h];
        const struct trig_entry *te = &ds->trig[th->te];
        for (size_t k = 0; k < te->npats; k++) {
            size_t pi = te->pats[k];
            const struct inj_pattern *pt = &ds->pat[pi];
            if (!pat_on(pt, s->ctx))
                continue;
            size_t from = th->pos > pt->back ? th->pos - pt->back : 0;
            size_t to = th->pos + th->len + pt->fwd;
            if (to > s->in)
                to = s->in;
            if (!(pt->flags & P_ANCH) && to <= done_end[pi])
                continue; /* a window already searched to its end cannot match again */
            if (co_triggers_near(s, pt->need, pt->any, h, from, to))
                run_near(s, pi, h, from, to, done_end);
        }
    }
}

/* The same from the compact pattern references. */
static void scan_refs(struct dscan *s, uint32_t *done_end)
{
    const struct detect_set *ds = s->ds;
    unsigned ctxbit = 1u << s->ctx;
    for (size_t h = 0; h < s->nhits && s->err == 0; h++) {
        const struct trig_hit *th = &s->hits[h];
        if (th->npats == 0)
            continue; /* a co-trigger word only */
        const struct pat_ref *r = &ds->refs[ds->tkey[th->te].ref0];
        for (size_t k = 0; k < th->npats; k++, r++) {
            if (!(r->on & ctxbit))
                continue;
            size_t from = th->pos > r->back ? th->pos - r->back : 0;
            size_t to = th->pos + th->len + r->fwd;
            if (to > s->in)
                to = s->in;
            if (!r->anch && to <= done_end[r->pat])
                continue;
            if (co_triggers_near(s, r->need, r->any, h, from, to))
                run_near(s, r->pat, h, from, to, done_end);
        }
    }
}

int inj_scan(struct dscan *s)
{
    if (s->nhits == 0)
        return s->err;
    uint32_t done_end[INJ_MAX_PATTERNS]; /* end of the last window searched per pattern */
    memset(done_end, 0, sizeof(done_end));
    if (s->ds->impl == DETECT_IMPL_REF)
        scan_ref(s, done_end);
    else
        scan_refs(s, done_end);
    return s->err;
}
