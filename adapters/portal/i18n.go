package portal

import (
	"net/http"
	"strings"
)

// Languages of the portal.
const (
	langAR = "ar"
	langEN = "en"
)

// langCookie remembers the chosen language.
const langCookie = "hukumati_lang"

// language returns the request's language: ?lang=, the cookie, then
// Arabic.
func language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == langAR || l == langEN {
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == langAR || c.Value == langEN) {
		return c.Value
	}
	return langAR
}

// catalogue holds every string the pages show, in Arabic and English: the
// one place to translate. Keys are stable; the tests check that every key
// a template uses exists and has both texts.
type catalogue map[string][2]string

// text returns key in lang; a missing key shows as itself (a test keeps
// that from happening).
func (c catalogue) text(lang, key string) string {
	t, ok := c[key]
	if !ok {
		return key
	}
	if lang == langEN {
		return t[1]
	}
	return t[0]
}

// format replaces {name} placeholders of key's text with args.
func (c catalogue) format(lang, key string, args map[string]string) string {
	s := c.text(lang, key)
	for k, v := range args {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

func newCatalogue() catalogue {
	return catalogue{
		"portal.name":                    {"حكومتي", "Hukumati"},
		"portal.tagline":                 {"خدماتك الحكومية في مكان واحد", "Your government services in one place"},
		"lang.switch":                    {"English", "العربية"},
		"nav.home":                       {"الرئيسية", "Home"},
		"nav.services":                   {"الخدمات", "Services"},
		"nav.apps":                       {"طلباتي", "My applications"},
		"nav.receipts":                   {"الإيصالات", "Receipts"},
		"nav.verify":                     {"التحقق من وثيقة", "Verify a document"},
		"nav.login":                      {"تسجيل الدخول", "Sign in"},
		"nav.logout":                     {"تسجيل الخروج", "Sign out"},
		"nav.activate":                   {"تفعيل الحساب", "Activate your account"},
		"nav.officer":                    {"موظف التسجيل", "Registration officer"},
		"home.welcome":                   {"مرحباً", "Welcome"},
		"home.anon":                      {"سجّل الدخول لاستخدام الخدمات. يُفتح الحساب في مركز تسجيل بعد التحقق من الهوية شخصياً.", "Sign in to use the services. Accounts are opened at a registration centre after an in-person identity check."},
		"field.nid":                      {"رقم الهوية", "National ID"},
		"field.password":                 {"كلمة المرور", "Password"},
		"field.password2":                {"تأكيد كلمة المرور", "Confirm password"},
		"field.code":                     {"رمز التفعيل", "Activation code"},
		"field.username":                 {"اسم المستخدم", "User name"},
		"field.card":                     {"رقم البطاقة", "Card number"},
		"field.expMonth":                 {"شهر الانتهاء", "Expiry month"},
		"field.expYear":                  {"سنة الانتهاء", "Expiry year"},
		"field.cvv":                      {"رمز التحقق", "CVV"},
		"field.holder":                   {"اسم حامل البطاقة", "Cardholder name"},
		"field.delivery":                 {"طريقة الاستلام", "How to receive it"},
		"field.phone":                    {"رقم الهاتف", "Phone number"},
		"field.office":                   {"مكتب البريد", "Post office"},
		"field.address":                  {"العنوان", "Address"},
		"field.docCode":                  {"رمز الوثيقة", "Document code"},
		"field.subject":                  {"الشخص", "Person"},
		"delivery.none":                  {"نسخة إلكترونية فقط", "Electronic copy only"},
		"delivery.pickup":                {"الاستلام من مكتب البريد (مجاناً)", "Pick up at a post office (free)"},
		"delivery.address":               {"التوصيل إلى العنوان ({fee})", "Delivery to my address ({fee})"},
		"btn.login":                      {"دخول", "Sign in"},
		"btn.activate":                   {"تفعيل", "Activate"},
		"btn.lookup":                     {"بحث في السجل المدني", "Look up in the civil registry"},
		"btn.issueCode":                  {"إصدار رمز تفعيل", "Issue activation code"},
		"btn.pay":                        {"ادفع وقدّم الطلب", "Pay and submit"},
		"btn.submit":                     {"قدّم الطلب", "Submit"},
		"btn.verify":                     {"تحقق", "Verify"},
		"btn.payFine":                    {"ادفع المخالفة", "Pay this fine"},
		"login.title":                    {"تسجيل دخول المواطن", "Citizen sign-in"},
		"login.failed":                   {"رقم الهوية أو كلمة المرور غير صحيحة.", "The national ID or password is not correct."},
		"login.locked":                   {"محاولات فاشلة كثيرة. حاول مرة أخرى بعد {minutes} دقيقة.", "Too many failed attempts. Try again in {minutes} minutes."},
		"activate.title":                 {"تفعيل الحساب", "Activate your account"},
		"activate.help":                  {"أدخل رقم هويتك ورمز التفعيل الذي سلّمك إياه موظف التسجيل، واختر كلمة مرور من {min} أحرف على الأقل.", "Enter your national ID and the activation code the registration officer gave you, and choose a password of at least {min} characters."},
		"activate.bad":                   {"رمز التفعيل غير صحيح أو مستخدم أو منتهي الصلاحية. اطلب رمزاً جديداً من مركز التسجيل.", "The activation code is wrong, already used or expired. Ask a registration centre for a new one."},
		"activate.mismatch":              {"كلمتا المرور غير متطابقتين.", "The two passwords do not match."},
		"activate.short":                 {"كلمة المرور قصيرة جداً.", "The password is too short."},
		"activate.done":                  {"تم تفعيل حسابك. يمكنك تسجيل الدخول الآن.", "Your account is active. You can sign in now."},
		"officer.title":                  {"وحدة موظف التسجيل", "Registration officer console"},
		"officer.login":                  {"دخول موظف التسجيل", "Registration officer sign-in"},
		"officer.help":                   {"بعد التحقق من هوية المواطن شخصياً، ابحث عنه في السجل المدني وأصدر له رمز تفعيل.", "After checking the citizen's identity in person, look them up in the civil registry and issue an activation code."},
		"officer.code":                   {"رمز التفعيل (يُسلَّم للمواطن مرة واحدة، صالح حتى {expires}):", "Activation code (give it to the citizen once; valid until {expires}):"},
		"person.name":                    {"الاسم", "Name"},
		"person.birth":                   {"تاريخ الميلاد", "Date of birth"},
		"person.address":                 {"العنوان", "Address"},
		"services.title":                 {"الخدمات الإلكترونية", "Online services"},
		"svc.licence-renewal":            {"تجديد رخصة القيادة", "Driving-licence renewal"},
		"svc.birth-certificate-new":      {"شهادة ميلاد جديدة", "New birth certificate"},
		"svc.birth-certificate-copy":     {"بدل شهادة ميلاد", "Copy of a birth certificate"},
		"svc.civil-registry-extract":     {"إخراج قيد مدني", "Civil-registry extract"},
		"svc.insurance-renewal":          {"تجديد التأمين الصحي الحكومي", "Health-insurance renewal"},
		"svc.traffic-fines":              {"الاستعلام عن مخالفات السير ودفعها", "Traffic fines: inquiry and payment"},
		"svc.account-opening":            {"فتح حساب", "Account opening"},
		"licence.number":                 {"رقم الرخصة", "Licence number"},
		"licence.classes":                {"الفئات", "Classes"},
		"licence.expires":                {"تاريخ الانتهاء", "Expires on"},
		"licence.status":                 {"الحالة", "Status"},
		"licence.fee":                    {"رسوم التجديد", "Renewal fee"},
		"licence.notEligible":            {"لا يمكن تجديد الرخصة الآن.", "The licence cannot be renewed now."},
		"licence.newExpiry":              {"تاريخ الانتهاء الجديد", "New expiry date"},
		"blocker.unpaid-fines":           {"توجد مخالفات سير غير مدفوعة. ادفعها أولاً.", "There are unpaid traffic fines. Pay them first."},
		"blocker.not-due":                {"لم يحن موعد التجديد بعد.", "The renewal is not due yet."},
		"blocker.suspended":              {"الرخصة موقوفة.", "The licence is suspended."},
		"blocker.expired-too-long":       {"انتهت الرخصة منذ أكثر من ثلاث سنوات؛ راجع مديرية الترخيص.", "The licence expired more than three years ago; visit a licensing directorate."},
		"blocker.lapsed-too-long":        {"انتهى التأمين منذ أكثر من سنة؛ راجع مديرية الصحة.", "The policy lapsed more than a year ago; visit a health directorate."},
		"fines.title":                    {"مخالفات السير", "Traffic fines"},
		"fines.none":                     {"لا توجد مخالفات غير مدفوعة.", "No unpaid fines."},
		"fines.unpaidTotal":              {"مجموع غير المدفوع", "Total unpaid"},
		"fine.number":                    {"رقم المخالفة", "Fine number"},
		"fine.offence":                   {"المخالفة", "Offence"},
		"fine.amount":                    {"المبلغ", "Amount"},
		"fine.date":                      {"التاريخ", "Date"},
		"fine.place":                     {"المكان", "Place"},
		"fine.status":                    {"الحالة", "Status"},
		"policy.number":                  {"رقم البوليصة", "Policy number"},
		"policy.category":                {"الفئة", "Category"},
		"policy.ends":                    {"تنتهي في", "Ends on"},
		"policy.premium":                 {"القسط السنوي", "Annual premium"},
		"policy.none":                    {"لا توجد بوليصة تأمين صحي باسمك.", "You hold no health-insurance policy."},
		"bc.next.new":                    {"يمكن إصدار شهادة ميلاد جديدة", "A new birth certificate can be issued"},
		"bc.next.copy":                   {"صدرت شهادة من قبل: يمكن إصدار بدل", "A certificate was issued before: a copy can be issued"},
		"pay.title":                      {"الدفع بالبطاقة", "Pay by card"},
		"pay.total":                      {"المبلغ المطلوب", "Amount due"},
		"pay.testCards":                  {"بيئة تجريبية: البطاقة 4111111111111111 مقبولة.", "Test environment: card 4111111111111111 is approved."},
		"app.title":                      {"الطلب", "Application"},
		"app.number":                     {"رقم الطلب", "Application number"},
		"app.service":                    {"الخدمة", "Service"},
		"app.status":                     {"الحالة", "Status"},
		"app.history":                    {"سجل الحالة", "Status history"},
		"app.none":                       {"لا توجد طلبات بعد.", "No applications yet."},
		"app.tracking":                   {"رقم تتبع البريد", "Post tracking number"},
		"app.retry":                      {"حاول مرة أخرى", "Try again"},
		"status.submitted":               {"مُقدَّم", "Submitted"},
		"status.draft":                   {"مسودة", "Draft"},
		"status.in-progress":             {"قيد المعالجة", "In progress"},
		"status.payment-declined":        {"رُفض الدفع", "Payment declined"},
		"status.rejected":                {"مرفوض", "Rejected"},
		"status.failed":                  {"تعذّر الإكمال", "Could not be completed"},
		"status.completed":               {"مكتمل", "Completed"},
		"status.code-issued":             {"صدر رمز التفعيل", "Activation code issued"},
		"receipt.title":                  {"إيصال الدفع", "Payment receipt"},
		"receipt.number":                 {"رقم الإيصال", "Receipt number"},
		"receipt.order":                  {"أمر الدفع", "Payment order"},
		"receipt.paidAt":                 {"تاريخ الدفع", "Paid on"},
		"receipt.amount":                 {"المبلغ", "Amount"},
		"receipt.method":                 {"وسيلة الدفع", "Paid with"},
		"receipt.for":                    {"مقابل", "For"},
		"receipts.title":                 {"إيصالاتي", "My receipts"},
		"receipts.none":                  {"لا توجد إيصالات بعد.", "No receipts yet."},
		"doc.title":                      {"الوثيقة الصادرة", "Issued document"},
		"doc.number":                     {"رقم الوثيقة", "Document number"},
		"doc.code":                       {"رمز التحقق (يمكن لأي شخص التحقق منه في صفحة التحقق)", "Verification code (anyone can check it on the verification page)"},
		"doc.qr":                         {"رمز الاستجابة السريعة للوثيقة", "The document's QR code"},
		"doc.noqr":                       {"الرمز أطول من أن يُرسم كرمز QR؛ استخدم النص.", "The code is too long for a QR image; use the text."},
		"verify.title":                   {"التحقق من وثيقة", "Verify a document"},
		"verify.help":                    {"الصق رمز الوثيقة المطبوع عليها للتحقق من أنها صادرة عن الوزارة ولم تُلغَ.", "Paste the code printed on the document to check that the ministry issued it and has not revoked it."},
		"verify.valid":                   {"الوثيقة صحيحة وسارية.", "The document is genuine and valid."},
		"verify.revoked":                 {"الوثيقة صحيحة لكنها أُلغيت من الجهة المصدرة.", "The document is genuine but its issuer has revoked it."},
		"verify.forged":                  {"الوثيقة غير صحيحة: ليست صادرة عن جهة رسمية أو تم تعديلها.", "The document is not genuine: it was not issued by a ministry, or it was altered."},
		"verify.issuer":                  {"الجهة المصدرة", "Issuer"},
		"verify.type":                    {"نوع الوثيقة", "Document type"},
		"verify.holder":                  {"صاحب الوثيقة", "Holder"},
		"verify.issued":                  {"تاريخ الإصدار", "Issued on"},
		"verify.revokedAt":               {"تاريخ الإلغاء", "Revoked on"},
		"doctype.birth-certificate":      {"شهادة ميلاد", "Birth certificate"},
		"doctype.civil-registry-extract": {"إخراج قيد مدني", "Civil-registry extract"},
		"ministry.moi":                   {"وزارة الداخلية", "the Ministry of Interior"},
		"ministry.mot":                   {"وزارة النقل والمواصلات", "the Ministry of Transport"},
		"ministry.moh":                   {"وزارة الصحة", "the Ministry of Health"},
		"ministry.pma":                   {"سلطة النقد", "the Monetary Authority"},
		"ministry.mof":                   {"وزارة المالية", "the Ministry of Finance"},
		"ministry.post":                  {"البريد الفلسطيني", "Palestine Post"},
		"err.title":                      {"تعذّر إتمام العملية", "Something went wrong"},
		"err.unreachable":                {"تعذّر الاتصال بشبكة الربط الحكومي. حاول بعد قليل.", "The government network could not be reached. Please try again shortly."},
		"err.ministryDown":               {"خدمة {ministry} غير متاحة حالياً. حاول بعد قليل.", "The service of {ministry} is not available right now. Please try again shortly."},
		"err.accessDenied":               {"البوابة غير مخوّلة باستخدام هذه الخدمة لدى {ministry}. يرجى إبلاغ مركز الاتصال.", "The portal is not permitted to use this service of {ministry}. Please tell the call centre."},
		"err.bus":                        {"حدث خطأ في شبكة الربط الحكومي أثناء الاتصال بـ{ministry}. حاول مرة أخرى.", "The government network reported a fault while contacting {ministry}. Please try again."},
		"err.notFound":                   {"لم تجد {ministry} السجل المطلوب.", "{ministry} has no record of this."},
		"err.forbidden":                  {"لا يحق لك طلب هذه الخدمة لهذا الشخص.", "You may not request this service for this person."},
		"err.conflict":                   {"لا يمكن تنفيذ الطلب في وضعه الحالي لدى {ministry}.", "{ministry} cannot do this in the current state of the record."},
		"err.alreadyIssued":              {"صدرت شهادة ميلاد جديدة من قبل؛ اطلب بدلاً.", "A new birth certificate was issued before; request a copy."},
		"err.unpaidFines":                {"توجد مخالفات سير غير مدفوعة. ادفعها أولاً ثم جدّد الرخصة.", "There are unpaid traffic fines. Pay them first, then renew the licence."},
		"err.renewalNotAllowed":          {"لا يمكن التجديد الآن.", "The renewal is not possible now."},
		"err.paymentNotAccepted":         {"لم تقبل {ministry} الدفع لهذا الطلب. لن يُخصم المبلغ مرتين؛ راجع مركز الاتصال.", "{ministry} did not accept the payment for this request. You will not be charged twice; please contact the call centre."},
		"err.badRequest":                 {"البيانات المدخلة غير صحيحة. راجعها وحاول مرة أخرى.", "Some of the details entered are not valid. Please check them and try again."},
		"err.internal":                   {"حدث خطأ داخلي. رقم المرجع: {ref}", "An internal error occurred. Reference: {ref}"},
		"err.csrf":                       {"انتهت صلاحية النموذج. أعد تحميل الصفحة وحاول مرة أخرى.", "The form has expired. Reload the page and try again."},
		"err.signin":                     {"يجب تسجيل الدخول.", "Please sign in."},
		"err.notFoundPage":               {"الصفحة غير موجودة.", "Page not found."},
		"err.verifyUnavailable":          {"تعذّر سؤال الجهة المصدرة عن حالة الوثيقة الآن. حاول بعد قليل.", "The issuer could not be asked about the document now. Please try again shortly."},
		"decline.card-declined":          {"رفض البنك البطاقة.", "The bank declined the card."},
		"decline.insufficient-funds":     {"الرصيد غير كافٍ.", "Insufficient funds."},
		"decline.expired-card":           {"البطاقة منتهية الصلاحية.", "The card has expired."},
		"decline.other":                  {"رُفض الدفع.", "The payment was declined."},
		"pay.declined":                   {"رُفض الدفع: {reason} لم يُخصم أي مبلغ. يمكنك المحاولة ببطاقة أخرى.", "The payment was declined: {reason} Nothing was charged. You can try another card."},
		"pay.badCard":                    {"بيانات البطاقة غير صحيحة.", "The card details are not valid."},
		"done.licence":                   {"تم تجديد رخصتك.", "Your licence has been renewed."},
		"done.document":                  {"صدرت الوثيقة.", "The document has been issued."},
		"done.insurance":                 {"تم تجديد التأمين الصحي.", "Your health insurance has been renewed."},
		"done.fine":                      {"تم دفع المخالفة.", "The fine has been paid."},
	}
}
